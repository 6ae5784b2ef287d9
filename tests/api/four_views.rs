//! One contact, four views: a contact written through each dialect reads
//! the same through the native API and every other dialect, with one history.

use crate::both_stores;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

struct Views<'a> {
    app: &'a TestApp,
    t: Tenant,
    bearer: String,
}

impl Views<'_> {
    async fn send(&self, req: reqwest::RequestBuilder, with: Option<Value>) -> Value {
        let req = match with {
            Some(b) => req.json(&b),
            None => req,
        };
        let res = req.send().await.unwrap();
        let (s, v) = body(res).await;
        assert!((200..300).contains(&s), "{s}: {v}");
        v
    }

    async fn payreq(&self, method: Method, path: &str, b: Option<Value>) -> Value {
        self.send(self.app.request(method, path, &self.t.token), b).await
    }

    async fn razorpay(&self, method: Method, path: &str, b: Option<Value>) -> Value {
        let req = self.app.client.request(method, self.app.url(path)).basic_auth(&self.t.key_id, Some(&self.t.secret));
        self.send(req, b).await
    }

    async fn pay_advantage(&self, method: Method, path: &str, b: Option<Value>) -> Value {
        self.send(self.app.client.request(method, self.app.url(path)).bearer_auth(&self.bearer), b).await
    }

    async fn instantpay(&self, method: Method, b: Option<Value>) -> Value {
        let req = self
            .app
            .client
            .request(method, self.app.url("/contacts/profile"))
            .header("X-Ipay-Client-Id", &self.t.key_id)
            .header("X-Ipay-Client-Secret", &self.t.secret)
            .header("X-Ipay-Endpoint-Ip", "127.0.0.1")
            .header("X-Ipay-Auth-Code", "1");
        self.send(req, b).await
    }

    /// The contact as each API shows it: (native, Razorpay, Pay Advantage, Instantpay).
    async fn read(&self, id: &str) -> (Value, Value, Value, Value) {
        let rzp = self.razorpay(Method::GET, &format!("/v1/contacts/{id}"), None).await;
        // The other two find it in their lists, which issue its aliases.
        let customers = self.pay_advantage(Method::GET, "/v3/customers?per_page=1000", None).await;
        let ipay = self.instantpay(Method::GET, None).await;
        let native = self.payreq(Method::GET, &format!("/v1/billers/{}/contacts/{id}", self.t.code), None).await;
        let code = native["aliases"]["pay_advantage"].as_str().unwrap();
        let customer = customers["Records"].as_array().unwrap().iter().find(|c| c["Code"] == code).unwrap().clone();
        let direct = self.pay_advantage(Method::GET, &format!("/v3/customers/{code}"), None).await;
        assert_eq!(customer, direct, "listed and fetched alike");
        let ip_id = native["aliases"]["instantpay"].as_str().unwrap();
        let profile = ipay["data"].as_array().unwrap().iter().find(|p| p["_id"] == ip_id).unwrap().clone();
        (native, rzp, customer, profile)
    }
}

async fn one_contact_four_views(b: Backend) {
    let app = spawn_app(b).await;
    app.service.create_biller("FOUR", "Four Views").await.unwrap();
    let nets = ["127.0.0.1/32".parse().unwrap()];
    let key = app.service.create_key(&["FOUR".to_owned()], ALL, &nets).await.unwrap();
    let token = app.token(key.key_id.as_str(), &key.secret).await;
    let t = Tenant { code: "FOUR".into(), key_id: key.key_id.to_string(), secret: key.secret.clone(), token };
    let res = app
        .client
        .post(app.url("/v3/token"))
        .json(&json!({"grant_type": "password", "username": t.key_id, "password": t.secret}))
        .send()
        .await
        .unwrap();
    let bearer = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let v = Views { app: &app, t, bearer };

    // One contact through each dialect.
    v.payreq(
        Method::POST,
        "/biller/FOUR/contacts/add",
        Some(json!([{"biller-account-number": "P100", "name": "Payreq Person"}])),
    )
    .await;
    let payreq_id =
        v.payreq(Method::GET, "/v1/billers/FOUR/contacts/acct:P100", None).await["id"].as_str().unwrap().to_owned();
    let rzp_id = v
        .razorpay(
            Method::POST,
            "/v1/contacts",
            Some(json!({"name": "Razor Person", "email": "razor@example.com", "contact": "9000090000"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = v
        .pay_advantage(Method::POST, "/v3/customers", Some(json!({"IsConsumer": true, "FirstName": "Pay", "LastName": "Person", "Email": "pay@example.com", "Mobile": "0400000000"})))
        .await["Code"]
        .as_str()
        .unwrap()
        .to_owned();
    let pa_id = v.payreq(Method::GET, &format!("/v1/billers/FOUR/contacts/pay_advantage:{code}"), None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ipay = v
        .instantpay(
            Method::POST,
            Some(json!({"name": "Insta Person", "email": "insta@example.com", "mobile": "9219133921"})),
        )
        .await;
    let ip_alias = ipay["data"]["_id"].as_str().unwrap().to_owned();
    let ip_id = v.payreq(Method::GET, &format!("/v1/billers/FOUR/contacts/instantpay:{ip_alias}"), None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for (id, name, email) in [
        (&payreq_id, "Payreq Person", None),
        (&rzp_id, "Razor Person", Some("razor@example.com")),
        (&pa_id, "Pay Person", Some("pay@example.com")),
        (&ip_id, "Insta Person", Some("insta@example.com")),
    ] {
        let (native, rzp, customer, profile) = v.read(id).await;
        assert_eq!(native["name"], name);
        assert_eq!((rzp["id"].as_str(), rzp["name"].as_str()), (Some(id.as_str()), Some(name)));
        assert_eq!((customer["Name"].as_str(), profile["name"].as_str()), (Some(name), Some(name)));
        let emails = [&native["email"], &rzp["email"], &customer["Email"], &profile["email"]];
        assert!(emails.iter().all(|e| e.as_str() == email), "{id}: {emails:?}");
        assert_eq!(customer["IsActive"], native["active"]);
        assert_eq!(rzp["active"], native["active"]);
    }
    // Phones read alike: the Razorpay `contact` is the primary phone, Instantpay's and Pay Advantage's the mobile.
    let (native, _, customer, profile) = v.read(&pa_id).await;
    assert_eq!((customer["Mobile"].as_str(), profile["mobile"].as_str()), (Some("0400000000"), Some("0400000000")));
    assert_eq!(native["phones"][0]["e164"], "+61400000000");
    assert_eq!(profile["callingCode"], "61");

    // A change through each dialect in turn lands on the one contact; one history holds them all.
    let id = &ip_id;
    v.razorpay(Method::PATCH, &format!("/v1/contacts/{id}"), Some(json!({"email": "one@example.com"}))).await;
    let pa_code = v.read(id).await.0["aliases"]["pay_advantage"].as_str().unwrap().to_owned();
    v.pay_advantage(Method::PUT, &format!("/v3/customers/{pa_code}"), Some(json!({"LastName": "Two"}))).await;
    v.payreq(Method::PATCH, &format!("/v1/billers/FOUR/contacts/{id}"), Some(json!({"notes": {"n": "three"}}))).await;
    let tag = v.payreq(Method::POST, "/v1/billers/FOUR/tags", Some(json!({"name": "Four"}))).await["id"].clone();
    let patch = json!({"contactId": ip_alias, "name": "Insta Four", "email": "four@example.com", "mobile": "9219133921", "tagDetails": [{"tagId": tag}]});
    v.instantpay(Method::PATCH, Some(patch)).await;
    let (native, rzp, customer, profile) = v.read(id).await;
    assert_eq!((native["name"].as_str(), native["last_name"].as_str()), (Some("Insta Four"), Some("Two")));
    assert_eq!((rzp["name"].as_str(), rzp["notes"]["n"].as_str()), (Some("Insta Four"), Some("three")));
    assert_eq!((customer["Email"].as_str(), profile["tagId"].clone()), (Some("four@example.com"), json!([tag])));
    let h = v.payreq(Method::GET, &format!("/v1/billers/FOUR/contacts/{id}/history"), None).await;
    let via: Vec<&str> = h["data"].as_array().unwrap().iter().map(|e| e["source"].as_str().unwrap()).collect();
    assert_eq!(
        via,
        [
            "PATCH /contacts/profile",
            "PATCH /v1/billers/{code}/contacts/{id}",
            "PUT /v3/customers/{code}",
            "PATCH /v1/contacts/{id}",
            "POST /contacts/profile"
        ],
        "{h}"
    );
}

both_stores!(one_contact_four_views);
