//! The bot's Matrix session and sync token, kept in the store folder so that a restart reuses
//! the same device and resumes where it stopped.

use std::path::{Path, PathBuf};

use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::ruma::{OwnedDeviceId, UserId};
use matrix_sdk::{Client, SessionMeta, SessionTokens};
use serde::{Deserialize, Serialize};

use crate::{MatrixError, MatrixOptions};

/// What is kept between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SavedSession {
    homeserver: String,
    session: MatrixSession,
    /// Where the last sync ended.
    pub(crate) next_batch: Option<String>,
}

/// The session file of the store folder.
pub(crate) fn path(options: &MatrixOptions) -> PathBuf {
    options.store.join("session.json")
}

fn read(file: &Path) -> Option<SavedSession> {
    serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()
}

/// Writes the session file atomically.
pub(crate) fn save(options: &MatrixOptions, saved: &SavedSession) -> Result<(), MatrixError> {
    let file = path(options);
    let failed = |err: std::io::Error| MatrixError::Store { path: file.display().to_string(), reason: err.to_string() };
    std::fs::create_dir_all(&options.store).map_err(failed)?;
    let temporary = file.with_extension("json.tmp");
    let json = serde_json::to_string_pretty(saved).expect("sessions serialize");
    std::fs::write(&temporary, json).map_err(failed)?;
    std::fs::rename(&temporary, &file).map_err(failed)
}

fn login_failed(me: &UserId, reason: impl ToString) -> MatrixError {
    MatrixError::Login { user: me.to_string(), reason: reason.to_string() }
}

/// Restores the saved session of this bot on this homeserver, else logs in with the password
/// or the access token, and saves the session.
pub(crate) async fn log_in(client: &Client, options: &MatrixOptions, me: &UserId) -> Result<SavedSession, MatrixError> {
    let saved = read(&path(options))
        .filter(|saved| saved.homeserver == options.homeserver && saved.session.meta.user_id == *me);
    if let Some(saved) = saved {
        client.restore_session(saved.session.clone()).await.map_err(|err| login_failed(me, err))?;
        match client.whoami().await {
            Ok(_) => return Ok(saved),
            Err(err) if options.password.is_some() => {
                tracing::warn!(error = %err, "the saved Matrix session is not accepted; logging in again");
            }
            Err(err) => return Err(login_failed(me, err)),
        }
    }
    let session = match (&options.password, &options.access_token) {
        (Some(password), _) => {
            let auth = client.matrix_auth();
            auth.login_username(me, password)
                .initial_device_display_name(&options.device_name)
                .send()
                .await
                .map_err(|err| login_failed(me, err))?;
            auth.session().ok_or_else(|| login_failed(me, "no session after login"))?
        }
        (None, Some(token)) => {
            let session = with_token(options, me, token).await?;
            client.restore_session(session.clone()).await.map_err(|err| login_failed(me, err))?;
            session
        }
        (None, None) => return Err(MatrixError::Config("set matrix.password or matrix.access_token".into())),
    };
    let saved = SavedSession { homeserver: options.homeserver.clone(), session, next_batch: None };
    save(options, &saved)?;
    Ok(saved)
}

/// A session from an access token: the homeserver says which device it belongs to.
async fn with_token(options: &MatrixOptions, me: &UserId, token: &str) -> Result<MatrixSession, MatrixError> {
    #[derive(Deserialize)]
    struct WhoAmI {
        user_id: String,
        device_id: Option<String>,
    }
    let url = format!("{}/_matrix/client/v3/account/whoami", options.homeserver.trim_end_matches('/'));
    let response = matrix_sdk::reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|err| login_failed(me, err))?;
    if !response.status().is_success() {
        return Err(login_failed(me, format!("the homeserver refused the access token ({})", response.status())));
    }
    let whoami: WhoAmI = serde_json::from_str(&response.text().await.map_err(|err| login_failed(me, err))?)
        .map_err(|err| login_failed(me, err))?;
    if whoami.user_id != me.as_str() {
        return Err(login_failed(me, format!("the access token belongs to {}", whoami.user_id)));
    }
    let device: OwnedDeviceId =
        whoami.device_id.ok_or_else(|| login_failed(me, "the access token has no device"))?.into();
    Ok(MatrixSession {
        meta: SessionMeta { user_id: me.to_owned(), device_id: device },
        tokens: SessionTokens { access_token: token.to_owned(), refresh_token: None },
    })
}
