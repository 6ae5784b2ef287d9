//! Path parameters whose rejections (bad UTF-8, wrong shape) are problem+json too.

use crate::http::problem::ApiError;
use crate::wire::{Fault, FaultKind};
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(e) => Err(Fault::new(FaultKind::InvalidPath, e.body_text()).into()),
        }
    }
}
