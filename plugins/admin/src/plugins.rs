//! `!plugins …`: team admins switch plugins on and off and change their settings, in chat.

use firebell_core::job::Job;
use firebell_core::message::Message;
use firebell_core::plugin::{
    Context, Outcome, Plugin, PluginError, SettingSource, Settings, framework_state, is_enabled,
};
use firebell_core::state::Change;
use firebell_core::state::{AUDIT, AUDIT_KEPT, AuditEntry, PluginChoice};
use firebell_core::store::StreamRange;
use firebell_core::team::Team;

/// How many audit entries `!plugins audit` shows.
const AUDIT_SHOWN: usize = 20;
/// The stream where versions before the framework's audit stream kept admin actions.
const OLD_AUDIT: &str = "audit";

fn reply(ctx: &Context<'_>, text: String) -> Outcome {
    Outcome::act(ctx.reply(Message::text(text)))
}

fn plugin<'c>(ctx: &'c Context<'_>, name: &str) -> Result<&'c dyn Plugin, PluginError> {
    ctx.registry.plugin(name).map(|p| p.as_ref()).ok_or_else(|| {
        let known: Vec<&str> = ctx.registry.plugins().iter().map(|p| p.name()).collect();
        PluginError::Usage(format!("unknown plugin {name:?}; expected one of {}", known.join(", ")))
    })
}

fn state(ctx: &Context<'_>, name: &str) -> PluginChoice {
    ctx.choices
        .get(name)
        .cloned()
        .unwrap_or_else(|| PluginChoice { plugin: name.to_owned(), ..PluginChoice::default() })
}

fn enabled_word(enabled: bool) -> &'static str {
    if enabled { "enabled" } else { "disabled" }
}

/// The write that keeps the team's choices with `choice` for its plugin.
fn keep(ctx: &Context<'_>, choice: PluginChoice) -> Change {
    framework_state(ctx.reads).put(&ctx.choices.clone().with(choice))
}

fn audited(ctx: &Context<'_>, action: String, before: String, after: String) -> [Change; 2] {
    let entry = AuditEntry { at: ctx.now, by: ctx.sender.clone(), action, before, after };
    let audit = framework_state(ctx.reads);
    [audit.append(AUDIT, &entry), audit.trim(AUDIT, AUDIT_KEPT)]
}

/// The reply with its writes: the choices kept and the action audited.
fn changed(ctx: &Context<'_>, text: String, choice: PluginChoice, audit: [Change; 2]) -> Outcome {
    let mut outcome = reply(ctx, text).write(keep(ctx, choice));
    outcome.writes.extend(audit);
    outcome
}

/// `!plugins`: every plugin, enabled or not for this team, and why.
pub(crate) fn list(ctx: &Context<'_>) -> Result<Outcome, PluginError> {
    let team = ctx.require_team()?;
    let mut lines = vec![format!("Plugins of team {}:", team.id)];
    for plugin in ctx.registry.plugins() {
        let enabled = enabled_word(is_enabled(plugin.as_ref(), team, ctx.choices));
        let why = if !plugin.can_be_disabled() {
            "always"
        } else if ctx.choices.get(plugin.name()).and_then(|s| s.enabled).is_some() {
            "set in chat"
        } else {
            "config file"
        };
        lines.push(format!("- {}: {enabled} ({why}). {}", plugin.name(), plugin.description()));
    }
    Ok(reply(ctx, lines.join("\n")))
}

/// `!plugins enable|disable <name>`.
pub(crate) async fn switch(ctx: &Context<'_>, name: &str, enable: bool) -> Result<Outcome, PluginError> {
    let team = ctx.require_team()?;
    let plugin = plugin(ctx, name)?;
    if !plugin.can_be_disabled() {
        return Err(PluginError::Refused(format!("the {name} plugin cannot be disabled")));
    }
    let was = is_enabled(plugin, team, ctx.choices);
    if was == enable {
        return Ok(reply(ctx, format!("Plugin {name} is already {} for team {}.", enabled_word(enable), team.id)));
    }
    let mut state = state(ctx, name);
    state.enabled = Some(enable);
    let action = format!("{} {name}", if enable { "enable" } else { "disable" });
    let mut text = format!("Plugin {name} {} for team {}.", enabled_word(enable), team.id);
    let waiting = jobs_of(ctx, team, name).await?.len();
    if !enable && waiting > 0 {
        let p = ctx.prefix;
        text.push_str(&format!(
            " Its {waiting} waiting jobs (reminders, escalations) wait until it is enabled again; {p}plugins drop-jobs {name} drops them."
        ));
    }
    let audit = audited(ctx, action, enabled_word(was).into(), enabled_word(enable).into());
    Ok(changed(ctx, text, state, audit))
}

/// `!plugins config <name> [key [value]]`.
pub(crate) fn config(
    ctx: &Context<'_>,
    name: &str,
    key: Option<&str>,
    value: Option<&str>,
) -> Result<Outcome, PluginError> {
    let team = ctx.require_team()?;
    let plugin = plugin(ctx, name)?;
    if plugin.settings().is_empty() {
        return Ok(reply(ctx, format!("Plugin {name} has no settings.")));
    }
    let settings = Settings::of(plugin, team, ctx.choices);
    let Some(key) = key else {
        let mut lines = vec![format!("Settings of {name} for team {}:", team.id)];
        lines.extend(plugin.settings().iter().map(|spec| describe(&settings, spec.key, spec.description)));
        return Ok(reply(ctx, lines.join("\n")));
    };
    let spec = plugin.settings().iter().find(|spec| spec.key == key).ok_or_else(|| {
        let keys: Vec<&str> = plugin.settings().iter().map(|s| s.key).collect();
        PluginError::Usage(format!("{name} has no setting {key:?}; expected one of {}", keys.join(", ")))
    })?;
    let Some(value) = value else {
        return Ok(reply(ctx, describe(&settings, spec.key, spec.description)));
    };
    spec.kind.check(value, Some(team)).map_err(|err| PluginError::Usage(format!("{name} {key}: {err}")))?;
    let before = settings.text(key).to_owned();
    let mut state = state(ctx, name);
    state.settings.insert(key.to_owned(), value.to_owned());
    let text = format!("Plugin {name} setting {key} is now {value} for team {} (was {before}).", team.id);
    let audit = audited(ctx, format!("config {name} {key}"), before, value.into());
    Ok(changed(ctx, text, state, audit))
}

fn describe(settings: &Settings, key: &str, description: &str) -> String {
    let source = match settings.source(key) {
        SettingSource::Default => "default",
        SettingSource::Config => "config file",
        SettingSource::Chat => "set in chat",
    };
    format!("- {key} = {} ({source}): {description}", settings.text(key))
}

/// `!plugins reset <name>`: drops what was chosen in chat.
pub(crate) fn reset(ctx: &Context<'_>, name: &str) -> Result<Outcome, PluginError> {
    let team = ctx.require_team()?;
    plugin(ctx, name)?;
    let Some(state) = ctx.choices.get(name).filter(|choice| !choice.is_empty()) else {
        return Ok(reply(ctx, format!("Plugin {name} has no changes made in chat for team {}.", team.id)));
    };
    let text =
        format!("Plugin {name} follows the config file again for team {}: {}.", team.id, file_state(ctx, team, name));
    let audit = audited(ctx, format!("reset {name}"), summarize(state), "config file".into());
    Ok(changed(ctx, text, PluginChoice { plugin: name.to_owned(), ..PluginChoice::default() }, audit))
}

fn file_state(ctx: &Context<'_>, team: &Team, name: &str) -> &'static str {
    let enabled = ctx.registry.plugin(name).is_some_and(|p| !p.can_be_disabled()) || team.enables_by_default(name);
    enabled_word(enabled)
}

fn summarize(state: &PluginChoice) -> String {
    let mut parts: Vec<String> = state.enabled.map(|e| enabled_word(e).to_owned()).into_iter().collect();
    parts.extend(state.settings.iter().map(|(key, value)| format!("{key}={value}")));
    parts.join(", ")
}

/// The team's jobs of plugin `name` that wait to come due.
async fn jobs_of(ctx: &Context<'_>, team: &Team, name: &str) -> Result<Vec<Job>, PluginError> {
    let jobs = ctx.reads.store().scheduled_jobs(&team.id).await?;
    Ok(jobs.into_iter().filter(|job| job.plugin == name).collect())
}

/// `!plugins drop-jobs <name>`: a disabled plugin's jobs wait for it to be enabled again; this
/// drops them for good (reminders, escalations), audited.
pub(crate) async fn drop_jobs(ctx: &Context<'_>, name: &str) -> Result<Outcome, PluginError> {
    let team = ctx.require_team()?;
    let plugin = plugin(ctx, name)?;
    if is_enabled(plugin, team, ctx.choices) {
        return Err(PluginError::Refused(format!(
            "plugin {name} is enabled for team {}: its jobs run when due; disable it first to drop them",
            team.id
        )));
    }
    let jobs = jobs_of(ctx, team, name).await?;
    if jobs.is_empty() {
        return Ok(reply(ctx, format!("Plugin {name} has no jobs waiting for team {}.", team.id)));
    }
    let theirs = ctx.state_of(plugin.name());
    let text = format!("Dropped {} waiting jobs of plugin {name} for team {}.", jobs.len(), team.id);
    let audit = audited(ctx, format!("drop-jobs {name}"), format!("{} jobs waiting", jobs.len()), "none".into());
    Ok(reply(ctx, text).writes(jobs.iter().map(|job| theirs.cancel_job(job))).writes(audit))
}

/// `!plugins audit`: the latest admin actions.
pub(crate) async fn show_audit(ctx: &Context<'_>) -> Result<Outcome, PluginError> {
    let team = ctx.require_team()?;
    let mut entries: Vec<AuditEntry> =
        framework_state(ctx.reads).stream(AUDIT, StreamRange::Latest(AUDIT_SHOWN)).await?;
    entries.extend(ctx.state.stream::<AuditEntry>(OLD_AUDIT, StreamRange::Latest(AUDIT_SHOWN)).await?);
    entries.sort_by_key(|entry| entry.at);
    let entries = &entries[entries.len().saturating_sub(AUDIT_SHOWN)..];
    if entries.is_empty() {
        return Ok(reply(ctx, format!("No admin actions recorded for team {} yet.", team.id)));
    }
    let mut lines = vec![format!("Latest admin actions of team {} (UTC):", team.id)];
    lines.extend(
        entries.iter().map(|e| {
            format!("- {} {}: {} ({} → {})", e.at.format("%Y-%m-%d %H:%M"), e.by, e.action, e.before, e.after)
        }),
    );
    Ok(reply(ctx, lines.join("\n")))
}
