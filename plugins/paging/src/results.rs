//! What Alertmanager answered the plugin's calls: a silence that now exists (or could not be
//! made), and whether an acknowledged page's alert still fires.

use firebell_core::message::{Action, CallResult, Message};
use firebell_core::plugin::{Event, Outcome, PluginError, TeamContext};

use crate::calls::{Request, Response};
use crate::escalation::{fired_again, resolve_page, silence_again};
use crate::page::{open_page, store};
use crate::push::{Push, Pushed};

/// How a push went: a failure is said in the team's rooms, so that someone reaches the person
/// another way; a delivery is only logged (the page's message said it was sent).
fn pushed(ctx: &TeamContext<'_>, push: &Push, response: &str) -> Result<Outcome, PluginError> {
    let pushed: Pushed = serde_json::from_str(response).map_err(|err| unreadable("push outcome", err))?;
    let page = if push.page == 0 { "the page".to_owned() } else { format!("P{}", push.page) };
    match pushed {
        Pushed::Delivered => {
            tracing::info!(page = %page, person = %push.person, host = push.host(), "page pushed");
            Ok(Outcome::default())
        }
        Pushed::Failed { reason } => {
            let text = format!("{page}: the push to {} ({}) failed: {reason}.", push.person, push.host());
            Ok(Outcome::default().and_all(ctx.tell_admin_rooms(&Message::text(text))))
        }
    }
}

fn unreadable(what: &str, err: serde_json::Error) -> PluginError {
    PluginError::Refused(format!("unreadable {what}: {err}"))
}

/// Handles a `call-result` event.
pub(crate) async fn on_result(ctx: &TeamContext<'_>, event: &Event) -> Result<Outcome, PluginError> {
    let result: CallResult = serde_json::from_str(&event.data).map_err(|err| unreadable("call result", err))?;
    if let Ok(push) = serde_json::from_str::<Push>(&result.request) {
        return pushed(ctx, &push, &result.response);
    }
    let request: Request = serde_json::from_str(&result.request).map_err(|err| unreadable("request", err))?;
    let response: Response = serde_json::from_str(&result.response).map_err(|err| unreadable("response", err))?;
    let number = match &request {
        Request::Silence { page, .. } | Request::Check { page, .. } | Request::Expire { page, .. } => *page,
    };
    let open = open_page(&ctx.state, number).await?;
    Ok(match (request, response) {
        (Request::Silence { page, ends_at, room, thread, .. }, Response::Silenced { silence, labels }) => {
            let Some(mut page) = open else {
                return Ok(Outcome::act(Request::Expire { page, silence }.call(&ctx.team.id)));
            };
            let text = format!(
                "{} silenced in Alertmanager until {} UTC, on all {} labels of its alert.",
                page.key(),
                ends_at.format("%H:%M"),
                labels.len()
            );
            page.silence = Some(silence);
            page.silencing = false;
            Outcome::act(Action::Send { room, message: Message::text(text), thread }).write(store(&ctx.state, &page))
        }
        (Request::Silence { page, room, thread, .. }, _) => {
            let text = format!(
                "P{page}: Alertmanager does not report this alert as firing (it resolved, or it did not come from \
                 Alertmanager), so nothing was silenced. It is silenced if it fires again while acknowledged."
            );
            let told = Outcome::act(Action::Send { room, message: Message::text(text), thread });
            match open {
                Some(mut page) => {
                    page.silencing = false;
                    told.write(store(&ctx.state, &page))
                }
                None => told,
            }
        }
        (Request::Check { .. }, Response::NotFiring) => match open {
            Some(page) => resolve_page(ctx, page, ", no longer firing in Alertmanager"),
            None => Outcome::default(),
        },
        (Request::Check { page, .. }, Response::Firing { alert }) => match open {
            Some(page) if page.wants_silence() => silence_again(ctx, page),
            Some(_) => Outcome::default(),
            None => return fired_again(ctx, page, alert).await,
        },
        (Request::Check { .. } | Request::Expire { .. }, _) => Outcome::default(),
    })
}
