//! Spawns the real server on a random port over a fresh database: a temp
//! SQLite file, or a fresh PostgreSQL schema dropped afterwards.

use contactd::config::{Secret, Settings};
use contactd::domain::field_settings::SettingsDoc;
use contactd::service::Service;
use contactd::store::{self, Scope, Store};
use rand::Rng;
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Once};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the suites use; a run fails, never skips, without it.
pub fn postgres_url() -> String {
    std::env::var("CONTACTD_TEST_POSTGRES").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt().with_env_filter("debug").with_test_writer().init();
        }
    });
}

/// A fresh, empty database; removed on drop.
pub struct TestDb {
    pub url: String,
    /// False for a second handle on a database another handle removes.
    owned: bool,
    file: Option<PathBuf>,
    schema: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let tag: String = rand::thread_rng()
            .sample_iter(rand::distributions::Alphanumeric)
            .take(12)
            .map(|c| (c as char).to_ascii_lowercase())
            .collect();
        match backend {
            Backend::Sqlite => {
                let file = std::env::temp_dir().join(format!("contactd-test-{tag}.db"));
                Self { url: format!("sqlite://{}", file.display()), owned: true, file: Some(file), schema: None }
            }
            Backend::Postgres => {
                let schema = format!("contactd_test_{tag}");
                let base = postgres_url();
                let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {base} is unreachable ({e}); the PostgreSQL suites need it (set CONTACTD_TEST_POSTGRES)"));
                tokio::spawn(conn);
                client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("create test schema");
                let sep = if base.contains('?') { '&' } else { '?' };
                Self {
                    url: format!("{base}{sep}options=-csearch_path%3D{schema}"),
                    owned: true,
                    file: None,
                    schema: Some(schema),
                }
            }
        }
    }
}

impl TestDb {
    /// Another handle on the same database; only the first removes it.
    pub fn share(&self) -> TestDb {
        TestDb { url: self.url.clone(), owned: false, file: None, schema: None }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        if let Some(schema) = self.schema.take() {
            // Drop runs outside any runtime guarantee, so use a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async {
                    if let Ok((client, conn)) = tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await {
                        tokio::spawn(conn);
                        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                    }
                });
            })
            .join();
        }
    }
}

pub async fn open_store(db: &TestDb) -> Arc<dyn Store> {
    let store = store::open(&db.url).await.expect("open store");
    store.migrate().await.expect("migrate");
    store
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: Client,
    pub service: Service,
    pub worker: contactd::service::Worker,
    /// The database seen directly (as an operator would), beside the server's own handle.
    pub store: Arc<dyn Store>,
    stop: Option<oneshot::Sender<()>>,
    pub db: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(TestDb::new(backend).await, configure).await
}

/// A server on a database the caller already has (e.g. a second server on the first one's).
pub async fn spawn_app_on(db: TestDb, configure: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    // No background workers unless a test asks: tests drive jobs with `worker.run_once()`.
    let mut settings =
        Settings { database: Secret::new(db.url.clone()), no_demo: true, workers: 0, ..Settings::default() };
    configure(&mut settings);
    let service = contactd::app::service(&settings).await.expect("service");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let state = contactd::app::state(service.clone(), &settings);
    let worker = contactd::app::worker(&service);
    tokio::spawn(async move {
        contactd::app::serve(listener, state, &settings, async {
            let _ = stopped.await;
        })
        .await
    });
    let store = open_store(&db).await;
    TestApp { addr, client: Client::new(), service, worker, store, stop: Some(stop), db }
}

/// A biller with a key, and a token for that key.
pub struct Tenant {
    pub code: String,
    pub key_id: String,
    pub secret: String,
    pub token: String,
}

pub const ALL: &[Scope] = &[Scope::ContactsRead, Scope::ContactsWrite, Scope::ContactsReplace, Scope::Admin];

/// The Payreq seed's fields: contact-id-1 (id role), contact-id-2 (auth, required), contact-id-3, address.
pub fn payreq_settings() -> SettingsDoc {
    serde_json::from_value(json!({
        "account_number": {"min_length": 4, "max_length": 10, "charset": "digits"},
        "fields": [
            {"key": "contact-id-1", "label": "ID", "kind": "text", "role": "id"},
            {"key": "contact-id-2", "label": "Auth", "kind": "text", "role": "auth", "required": true, "max_length": 30},
            {"key": "contact-id-3", "label": "Group", "kind": "text", "pattern": "GA[0-9]+"},
            {"key": "address-1", "label": "Address", "kind": "text"},
            {"key": "postal-code", "label": "Postcode", "kind": "text", "pattern": "[0-9]{4}"},
            {"key": "paperless", "label": "Paperless", "kind": "boolean"}
        ]
    }))
    .expect("settings")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).header("Authorization", format!("Token {token}"))
    }

    pub async fn biller(&self, code: &str, scopes: &[Scope]) -> Tenant {
        self.service.create_biller(code, &format!("{code} Pty Ltd")).await.expect("biller");
        self.service.set_field_settings(code, payreq_settings()).await.expect("settings");
        self.tenant_key(&[code], scopes).await
    }

    pub async fn tenant_key(&self, codes: &[&str], scopes: &[Scope]) -> Tenant {
        let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
        let key = self.service.create_key(&codes, scopes, &[]).await.expect("key");
        let token = self.token(key.key_id.as_str(), &key.secret).await;
        Tenant { code: codes[0].clone(), key_id: key.key_id.to_string(), secret: key.secret, token }
    }

    pub async fn token(&self, key_id: &str, secret: &str) -> String {
        let res = self
            .client
            .post(self.url("/v1/auth/token"))
            .json(&json!({"key_id": key_id, "key_secret": secret}))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.expect("json")["token"].as_str().expect("token").to_owned()
    }

    pub async fn post(&self, t: &Tenant, path: &str, body: &Value) -> Response {
        self.request(Method::POST, &format!("/v1/billers/{}{path}", t.code), &t.token)
            .json(body)
            .send()
            .await
            .expect("send")
    }

    pub async fn get(&self, t: &Tenant, path: &str) -> Response {
        self.request(Method::GET, &format!("/v1/billers/{}{path}", t.code), &t.token).send().await.expect("send")
    }

    /// A new catalogue tag of the biller; returns its id.
    pub async fn tag(&self, t: &Tenant, name: &str) -> String {
        let (s, v) = body(self.post(t, "/tags", &json!({"name": name})).await).await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().expect("id").to_owned()
    }

    /// Every contact of the biller, walked page by page, keyed by account number.
    pub async fn all_contacts(&self, t: &Tenant) -> std::collections::BTreeMap<String, Value> {
        let mut out = std::collections::BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => "/contacts?limit=1000".to_owned(),
                Some(c) => format!("/contacts?limit=1000&cursor={c}"),
            };
            let page: Value = self.get(t, &path).await.json().await.expect("json");
            for c in page["data"].as_array().expect("data") {
                out.insert(c["account_number"].as_str().expect("acct").to_owned(), c.clone());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }
}

/// A valid contact for the Payreq settings above.
pub fn contact(acct: &str, name: &str) -> Value {
    json!({"account_number": acct, "name": name, "fields": {"contact-id-1": acct, "contact-id-2": format!("Auth {name}")}})
}

pub async fn body(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Runs each listed test once per backend, as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::helpers::Backend::Postgres).await } )*
        }
    };
}
