//! The chat commands: what is shown, and what admins and members change.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use firebell_core::ids::Person;
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Context, Outcome, PluginError};
use firebell_core::state::Change;
use firebell_core::team::{Member, Team};

use crate::feed;
use crate::notices::Notify;
use crate::rota::{OverrideRecord, Rota, StoredSchedule, SwapRecord, TEAM, overrides, stale, swaps_for};
use crate::schedule::{Layer, Restriction, Rotation, Schedule, Shift, Source};
use crate::when::{LONGEST, instant, length, local, parse_clock, parse_span};
use crate::{IcalAction, OncallSettings, SetLayer, working_hours};

/// The most lines a listing shows.
const MOST_LINES: usize = 60;

fn say(ctx: &Context<'_>, text: impl Into<String>) -> Outcome {
    Outcome::act(ctx.reply(Message::text(text)))
}

fn refused(text: impl Into<String>) -> PluginError {
    PluginError::Refused(text.into())
}

/// The job that gives the notices, (re)scheduled now so that a change is noticed at once.
fn notices_now(ctx: &Context<'_>) -> Change {
    ctx.schedule(TEAM, ctx.now, &Notify)
}

/// The reader's timezone: theirs on the roster, else the schedule's.
fn zone(ctx: &Context<'_>, team: &Team, schedule: Tz) -> Tz {
    team.member(&ctx.sender.user).map_or(schedule, |member| member.timezone)
}

/// The sender's roster entry, for commands about their own shifts.
fn sender<'t>(ctx: &Context<'_>, team: &'t Team) -> Result<&'t Member, PluginError> {
    team.member(&ctx.sender.user).ok_or_else(|| refused(format!("you are not on team {}'s roster", team.name)))
}

/// The roster entry of a mentioned person.
fn member<'t>(team: &'t Team, person: &Person) -> Result<&'t Member, PluginError> {
    team.member(&person.user).ok_or_else(|| refused(format!("{person} is not on team {}'s roster", team.name)))
}

/// The span argument as a chrono duration within 1 minute and 90 days.
fn span_of(span: Option<StdDuration>, default_days: i64) -> Result<Duration, PluginError> {
    let span = span.map_or(Ok(Duration::days(default_days)), Duration::from_std).unwrap_or(LONGEST + Duration::days(1));
    if span > LONGEST || span < Duration::minutes(1) {
        return Err(PluginError::Usage(format!("expected a span from 1m to {}d, like 14d", LONGEST.num_days())));
    }
    Ok(span)
}

async fn rota(ctx: &Context<'_>, team: &Team) -> Result<Rota, PluginError> {
    Rota::read(&ctx.state, team).await?.ok_or_else(|| {
        refused(format!(
            "team {} has no on-call schedule; admins set one with {}oncall layer, or in [teams.config.oncall]",
            team.name, ctx.prefix
        ))
    })
}

fn source(shift: &Shift) -> String {
    match &shift.source {
        Source::Layer(layer) => layer.clone(),
        Source::Override => "override".to_owned(),
    }
}

/// How pages reach `member`: the transports of their accounts, and their push endpoint.
pub(crate) fn reach(member: &Member) -> String {
    let mut transports: Vec<&str> = member.ids.iter().map(|id| id.transport.as_str()).collect();
    transports.dedup();
    let mut ways = vec![format!("direct message ({})", transports.join(", "))];
    if let Some(push) = &member.push {
        let host = push.url.split_once("://").map_or(push.url.as_str(), |(_, rest)| rest);
        ways.push(format!("push ({})", host.split(['/', '?']).next().unwrap_or(host)));
    }
    ways.join(" and ")
}

/// `!oncall`: now and next.
pub(crate) async fn now(ctx: &Context<'_>, team: &Team) -> Result<Outcome, PluginError> {
    if team.members.is_empty() {
        return Err(refused(format!("team {} has no roster in the config", team.name)));
    }
    let Some(rota) = Rota::read(&ctx.state, team).await? else {
        let mut lines = working_hours::lines(team, &ctx.settings.read::<OncallSettings>(), ctx.now);
        lines.push(format!("(No on-call schedule: admins set one with {}oncall layer.)", ctx.prefix));
        return Ok(say(ctx, lines.join("\n")));
    };
    let tz = zone(ctx, team, rota.schedule.timezone);
    let overrides = rota.overrides();
    let mut lines = Vec::new();
    let current = rota.schedule.on_call_at(&overrides, ctx.now);
    match &current {
        Some(shift) => {
            lines.push(format!(
                "On call for {} now: {} ({}), until {} ({} left).",
                team.name,
                shift.person,
                source(shift),
                local(shift.end, tz),
                length(ctx.now, shift.end)
            ));
            if let Some(member) = team.member_named(&shift.person) {
                lines.push(format!("Pages reach {} by {}.", member.name, reach(member)));
            }
        }
        None => lines.push(format!("Nobody is on call for {} now.", team.name)),
    }
    let after = current.as_ref().map_or(ctx.now, |shift| shift.end);
    let next = rota.schedule.next_after(&overrides, after - Duration::seconds(1), feed::AHEAD);
    match next {
        Some(next) => lines.push(format!(
            "Next: {} ({}), {} to {}.",
            next.person,
            source(&next),
            local(next.start, tz),
            local(next.end, tz)
        )),
        None => lines.push(format!("Nobody is on call in the next {} days.", feed::AHEAD.num_days())),
    }
    lines.push(format!("Times in {tz}."));
    Ok(say(ctx, lines.join("\n")))
}

/// `!oncall schedule [span]`.
pub(crate) async fn show_schedule(
    ctx: &Context<'_>,
    team: &Team,
    span: Option<StdDuration>,
) -> Result<Outcome, PluginError> {
    let span = span_of(span, 7)?;
    let rota = rota(ctx, team).await?;
    let tz = zone(ctx, team, rota.schedule.timezone);
    let (from, to) = (ctx.now, ctx.now + span);
    let overrides = rota.overrides();
    let mut rows: Vec<(DateTime<Utc>, String)> = rota
        .schedule
        .shifts(&overrides, from, to)
        .iter()
        .map(|s| (s.start, format!("{} to {}: {} ({})", local(s.start, tz), local(s.end, tz), s.person, source(s))))
        .collect();
    rows.extend(
        rota.schedule
            .gaps(&overrides, from, to)
            .into_iter()
            .map(|(start, end)| (start, format!("{} to {}: nobody", local(start, tz), local(end, tz)))),
    );
    rows.sort();
    let mut lines = vec![format!("On call for {} from now to {} ({tz}):", team.name, local(to, tz))];
    lines.extend(limited(rows.into_iter().map(|(_, row)| row).collect()));
    Ok(say(ctx, lines.join("\n")))
}

fn limited(mut rows: Vec<String>) -> Vec<String> {
    if rows.len() > MOST_LINES {
        let more = rows.len() - MOST_LINES;
        rows.truncate(MOST_LINES);
        rows.push(format!("… and {more} more"));
    }
    rows
}

/// `!oncall gaps [span]`.
pub(crate) async fn gaps(ctx: &Context<'_>, team: &Team, span: Option<StdDuration>) -> Result<Outcome, PluginError> {
    let span = span_of(span, 14)?;
    let rota = rota(ctx, team).await?;
    let tz = zone(ctx, team, rota.schedule.timezone);
    let gaps = rota.schedule.gaps(&rota.overrides(), ctx.now, ctx.now + span);
    let days = span.num_days().max(1);
    if gaps.is_empty() {
        return Ok(say(ctx, format!("Someone is on call for {} at every moment of the next {days} days.", team.name)));
    }
    let mut lines = vec![format!("Nobody is on call for {} ({tz}):", team.name)];
    let rows = gaps.iter().map(|(s, e)| format!("{} to {} ({})", local(*s, tz), local(*e, tz), length(*s, *e)));
    lines.extend(limited(rows.collect()));
    Ok(say(ctx, lines.join("\n")))
}

/// `!oncall override @bob <when>`: for admins, or the person the override covers.
pub(crate) async fn add_override(
    ctx: &Context<'_>,
    team: &Team,
    user: &Person,
    when: &str,
) -> Result<Outcome, PluginError> {
    let covering = member(team, user)?;
    let existing = overrides(&ctx.state).await?;
    let schedule = crate::rota::schedule(&ctx.state, team).await?;
    let base = schedule.clone().unwrap_or(Schedule { timezone: chrono_tz::UTC, layers: Vec::new() });
    let tz = zone(ctx, team, base.timezone);
    let interval = parse_span(when, ctx.now, tz).map_err(PluginError::Usage)?;
    let plain: Vec<_> = existing.iter().map(OverrideRecord::as_override).collect();
    let covered: Vec<String> = base.shifts(&plain, interval.0, interval.1).into_iter().map(|s| s.person).collect();
    let me = team.member(&ctx.sender.user).map(|m| m.name.clone());
    let mine = !covered.is_empty() && covered.iter().all(|person| Some(person) == me.as_ref());
    if !ctx.sender_is_admin && !mine {
        return Err(refused(format!(
            "only team admins, or the person on call then, may put someone else on call; {} is on call then",
            if covered.is_empty() { "nobody".to_owned() } else { covered.join(", ") }
        )));
    }
    let number = ctx.state.next_number("override", ctx.cause).await?;
    let record = OverrideRecord::new(number, &covering.name, interval, ctx.sender.name.clone());
    let mut writes: Vec<Change> =
        stale(&existing, ctx.now).iter().map(|o| ctx.state.remove::<OverrideRecord>(&o.key)).collect();
    writes.extend([ctx.state.put(&record), notices_now(ctx)]);
    let over = if covered.is_empty() { "where nobody was".to_owned() } else { format!("over {}", dedup(covered)) };
    let text = format!(
        "{}: {} is on call from {} to {} ({tz}), {over}. Undo: {}oncall unoverride {}",
        record.key,
        covering.name,
        local(interval.0, tz),
        local(interval.1, tz),
        ctx.prefix,
        record.key
    );
    Ok(say(ctx, text).writes(writes))
}

fn dedup(mut names: Vec<String>) -> String {
    names.dedup();
    names.join(", ")
}

/// `!oncall overrides`.
pub(crate) async fn list_overrides(ctx: &Context<'_>, team: &Team) -> Result<Outcome, PluginError> {
    let all = overrides(&ctx.state).await?;
    let tz = match crate::rota::schedule(&ctx.state, team).await? {
        Some(schedule) => zone(ctx, team, schedule.timezone),
        None => zone(ctx, team, chrono_tz::UTC),
    };
    let rows: Vec<String> = all
        .iter()
        .filter(|o| o.end > ctx.now)
        .map(|o| format!("{}: {} from {} to {} (by {})", o.key, o.person, local(o.start, tz), local(o.end, tz), o.by))
        .collect();
    if rows.is_empty() {
        return Ok(say(ctx, format!("No overrides now or to come for {}.", team.name)));
    }
    let mut lines = vec![format!("Overrides for {} ({tz}):", team.name)];
    lines.extend(limited(rows));
    Ok(say(ctx, lines.join("\n")))
}

/// `!oncall unoverride O3`: its maker, its person, or an admin.
pub(crate) async fn remove_override(ctx: &Context<'_>, team: &Team, id: &str) -> Result<Outcome, PluginError> {
    let key = id.to_uppercase();
    let Some(record) = ctx.state.get::<OverrideRecord>(&key).await? else {
        return Err(refused(format!("there is no override {id}; {}oncall overrides lists them", ctx.prefix)));
    };
    let me = team.member(&ctx.sender.user).map(|m| m.name.as_str());
    let allowed = ctx.sender_is_admin || me == Some(record.person.as_str()) || ctx.sender.name == record.by;
    if !allowed {
        return Err(refused("only its maker, its person, or a team admin may remove an override"));
    }
    let text = format!("{} removed: {} is no longer on call by it.", record.key, record.person);
    Ok(say(ctx, text).writes([ctx.state.remove::<OverrideRecord>(&record.key), notices_now(ctx)]))
}

/// The sender's shift that `which` names: `now`, `next`, or one on a date.
fn find_shift(rota: &Rota, me: &str, which: &str, now: DateTime<Utc>, tz: Tz) -> Result<Shift, PluginError> {
    let overrides = rota.overrides();
    let mine = |shift: &Shift| shift.person.eq_ignore_ascii_case(me);
    let found = match which.to_lowercase().as_str() {
        "now" => rota.schedule.on_call_at(&overrides, now).filter(mine),
        "next" => {
            rota.schedule.shifts(&overrides, now, now + feed::AHEAD).into_iter().find(|s| mine(s) && s.start > now)
        }
        date => {
            let day: NaiveDate = date.parse().map_err(|_| {
                PluginError::Usage(format!("expected which shift: now, next, or a date like 2026-12-24; got {which:?}"))
            })?;
            let shifts = rota.schedule.shifts(&overrides, now - Duration::days(1), now + feed::AHEAD);
            let starts_that_day = |s: &Shift| s.start.with_timezone(&tz).date_naive() == day;
            let covers_noon = |s: &Shift| {
                let noon = instant(tz, day.and_hms_opt(12, 0, 0).unwrap_or_default());
                s.start <= noon && noon < s.end
            };
            let found = shifts
                .iter()
                .find(|s| mine(s) && starts_that_day(s))
                .or(shifts.iter().find(|s| mine(s) && covers_noon(s)));
            found.cloned()
        }
    };
    found
        .filter(|shift| shift.end > now)
        .ok_or_else(|| refused(format!("you have no shift {which} in the next 90 days")))
}

/// `!oncall swap <shift> @bob`: a request bob accepts.
pub(crate) async fn swap(ctx: &Context<'_>, team: &Team, which: &str, user: &Person) -> Result<Outcome, PluginError> {
    let me = sender(ctx, team)?;
    let to = member(team, user)?;
    if to.name == me.name {
        return Err(refused("that shift is yours already; name someone else"));
    }
    let rota = rota(ctx, team).await?;
    let tz = zone(ctx, team, rota.schedule.timezone);
    let shift = find_shift(&rota, &me.name, which, ctx.now, tz)?;
    let number = ctx.state.next_number("swap", ctx.cause).await?;
    let start = shift.start.max(ctx.now);
    let request = SwapRecord {
        key: format!("S{number}"),
        number,
        from: me.name.clone(),
        to: to.name.clone(),
        start,
        end: shift.end,
        expires: shift.end,
    };
    let theirs = to.timezone;
    let message = Message::text("")
        .mention(user)
        .and(format!(
            ": {} offers you their on-call shift from {} to {} ({theirs}). Reply {p}oncall accept {k} or {p}oncall decline {k}.",
            me.name,
            local(start, theirs),
            local(shift.end, theirs),
            p = ctx.prefix,
            k = request.key
        ));
    Ok(Outcome::act(ctx.reply(message)).write(ctx.state.put(&request)))
}

/// `!oncall accept|decline [S2]`.
pub(crate) async fn answer_swap(
    ctx: &Context<'_>,
    team: &Team,
    id: Option<&str>,
    accept: bool,
) -> Result<Outcome, PluginError> {
    let me = sender(ctx, team)?;
    let open = swaps_for(&ctx.state, &me.name).await?;
    let request = match id {
        Some(id) => open.into_iter().find(|s| s.key.eq_ignore_ascii_case(id)),
        None if open.len() > 1 => {
            let keys: Vec<&str> = open.iter().map(|s| s.key.as_str()).collect();
            return Err(PluginError::Usage(format!(
                "several shifts are offered to you; name one of {}",
                keys.join(", ")
            )));
        }
        None => open.into_iter().next(),
    };
    let Some(request) = request else {
        return Err(refused(format!(
            "no shift {}is offered to you",
            id.map(|id| format!("{id} ")).unwrap_or_default()
        )));
    };
    let gone = ctx.state.remove::<SwapRecord>(&request.key);
    if ctx.now >= request.expires {
        return Ok(say(ctx, format!("{} is over: the shift ended.", request.key)).write(gone));
    }
    let from = team.member_named(&request.from).and_then(|m| Some(Person::new(m.ids.first()?.clone(), m.name.clone())));
    let mut message = Message::text(format!("{} ", request.key));
    if !accept {
        message = message.and("declined: ");
        message = match &from {
            Some(from) => message.mention(from),
            None => message.and(request.from.clone()),
        };
        return Ok(Outcome::act(ctx.reply(message.and(" keeps the shift."))).write(gone));
    }
    let existing = overrides(&ctx.state).await?;
    let number = ctx.state.next_number("override", ctx.cause).await?;
    let interval = (request.start.max(ctx.now), request.end);
    let record = OverrideRecord::new(number, &me.name, interval, format!("swap {} from {}", request.key, request.from));
    let tz = me.timezone;
    message = message.and(format!(
        "accepted: {} is on call from {} to {} ({tz}) instead of ",
        me.name,
        local(interval.0, tz),
        local(interval.1, tz)
    ));
    message = match &from {
        Some(from) => message.mention(from),
        None => message.and(request.from.clone()),
    };
    let mut writes: Vec<Change> =
        stale(&existing, ctx.now).iter().map(|o| ctx.state.remove::<OverrideRecord>(&o.key)).collect();
    writes.extend([gone, ctx.state.put(&record), notices_now(ctx)]);
    Ok(Outcome::act(ctx.reply(message.and(format!(" (override {}).", record.key)))).writes(writes))
}

/// The schedule to edit: the current one, or an empty one in the sender's timezone.
async fn editable(ctx: &Context<'_>, team: &Team) -> Result<Schedule, PluginError> {
    let current = crate::rota::schedule(&ctx.state, team).await?;
    Ok(current.unwrap_or_else(|| Schedule { timezone: zone(ctx, team, chrono_tz::UTC), layers: Vec::new() }))
}

fn stored(ctx: &Context<'_>, schedule: Schedule) -> Change {
    ctx.state.put(&StoredSchedule {
        id: TEAM.into(),
        schedule,
        changed_by: ctx.sender.name.clone(),
        changed_at: ctx.now,
    })
}

fn describe(layer: &Layer) -> String {
    let mut text = format!(
        "{}: {} at {} from {}, {}",
        layer.name,
        layer.rotation,
        layer.handoff.format("%H:%M"),
        layer.start,
        layer.participants.join(" → ")
    );
    if !layer.restrictions.is_empty() {
        let windows: Vec<String> = layer.restrictions.iter().map(ToString::to_string).collect();
        text.push_str(&format!("; only {}", windows.join("; ")));
    }
    text
}

/// `!oncall layer <name> <rotation> <handoff> <people> [--from DATE] [--only WINDOWS]`.
pub(crate) async fn set_layer(ctx: &Context<'_>, team: &Team, args: SetLayer) -> Result<Outcome, PluginError> {
    let rotation: Rotation = args.rotation.parse().map_err(|err| PluginError::Usage(format!("{err}")))?;
    let handoff = parse_clock(&args.handoff).map_err(PluginError::Usage)?;
    let mut participants = Vec::new();
    for name in args.people.split(',').map(str::trim).filter(|name| !name.is_empty()) {
        let name = name.trim_start_matches('@');
        let found = team.member_named(name).ok_or_else(|| {
            let roster: Vec<&str> = team.members.iter().map(|m| m.name.as_str()).collect();
            PluginError::Usage(format!("{name:?} is not on the roster; expected names from: {}", roster.join(", ")))
        })?;
        participants.push(found.name.clone());
    }
    let mut schedule = editable(ctx, team).await?;
    let start = match &args.from {
        Some(date) => date
            .parse::<NaiveDate>()
            .map_err(|_| PluginError::Usage(format!("expected --from a date like 2026-12-07, got {date:?}")))?,
        None => ctx.now.with_timezone(&schedule.timezone).date_naive(),
    };
    let restrictions = args
        .only
        .iter()
        .flat_map(|only| only.split(';'))
        .map(str::trim)
        .filter(|window| !window.is_empty())
        .map(|window| window.parse::<Restriction>().map_err(|err| PluginError::Usage(err.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let layer = Layer { name: args.name.clone(), participants, rotation, handoff, start, restrictions };
    let text = format!("Layer {}", describe(&layer));
    match schedule.layers.iter_mut().find(|l| l.name.eq_ignore_ascii_case(&layer.name)) {
        Some(existing) => *existing = layer,
        None => schedule.layers.push(layer),
    }
    schedule.check(|name| team.member_named(name).is_some()).map_err(|err| PluginError::Usage(err.to_string()))?;
    let tz = schedule.timezone;
    let now_on = schedule.on_call_at(&[], ctx.now).map_or("nobody".to_owned(), |s| s.person);
    let text = format!("{text} ({tz}). By the layers alone, {now_on} is on call now.");
    Ok(say(ctx, text).writes([stored(ctx, schedule), notices_now(ctx)]))
}

/// `!oncall unlayer <name>`.
pub(crate) async fn remove_layer(ctx: &Context<'_>, team: &Team, name: &str) -> Result<Outcome, PluginError> {
    let mut schedule = editable(ctx, team).await?;
    let before = schedule.layers.len();
    schedule.layers.retain(|layer| !layer.name.eq_ignore_ascii_case(name));
    if schedule.layers.len() == before {
        let names: Vec<&str> = schedule.layers.iter().map(|l| l.name.as_str()).collect();
        return Err(refused(format!(
            "there is no layer {name:?}; the layers are: {}",
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        )));
    }
    Ok(say(ctx, format!("Layer {name} removed.")).writes([stored(ctx, schedule), notices_now(ctx)]))
}

/// `!oncall layers`.
pub(crate) async fn layers(ctx: &Context<'_>, team: &Team) -> Result<Outcome, PluginError> {
    let stored = ctx.state.get::<StoredSchedule>(TEAM).await?;
    let (schedule, origin) = match stored {
        Some(stored) => (
            stored.schedule,
            format!("set in chat by {} on {}", stored.changed_by, stored.changed_at.format("%Y-%m-%d")),
        ),
        None => match crate::rota::configured(team) {
            Some(schedule) => (schedule, "from the config".to_owned()),
            None => {
                return Err(refused(format!(
                    "team {} has no on-call schedule; admins set one with {}oncall layer",
                    team.name, ctx.prefix
                )));
            }
        },
    };
    let mut lines = vec![format!("Schedule of {} in {} ({origin}); a later layer wins:", team.name, schedule.timezone)];
    lines.extend(schedule.layers.iter().enumerate().map(|(n, layer)| format!("{}. {}", n + 1, describe(layer))));
    if schedule.layers.is_empty() {
        lines.push("(no layers)".to_owned());
    }
    Ok(say(ctx, lines.join("\n")))
}

/// `!oncall timezone <tz>`.
pub(crate) async fn set_timezone(ctx: &Context<'_>, team: &Team, timezone: &str) -> Result<Outcome, PluginError> {
    let tz: Tz = timezone
        .parse()
        .map_err(|_| PluginError::Usage(format!("expected an IANA timezone like Europe/Madrid, got {timezone:?}")))?;
    let mut schedule = editable(ctx, team).await?;
    schedule.timezone = tz;
    let text = format!("The schedule of {} is now in {tz}: handoffs keep their wall-clock times.", team.name);
    Ok(say(ctx, text).writes([stored(ctx, schedule), notices_now(ctx)]))
}

/// `!oncall ical [new|revoke]`: the links in a direct message.
pub(crate) async fn ical(ctx: &Context<'_>, team: &Team, action: Option<IcalAction>) -> Result<Outcome, PluginError> {
    let me = sender(ctx, team)?;
    let id = me.name.to_lowercase();
    let existing = ctx.state.get::<crate::rota::FeedToken>(&id).await?;
    match (action, existing) {
        (Some(IcalAction::Revoke), Some(_)) => Ok(say(ctx, "Your calendar link is revoked: it no longer works.")
            .write(ctx.state.remove::<crate::rota::FeedToken>(&id))),
        (Some(IcalAction::Revoke), None) => Err(refused("you have no calendar link to revoke")),
        (None, Some(token)) => Ok(say(
            ctx,
            format!(
                "You have a calendar link since {}. Only its hash is kept, so it cannot be shown again: {p}oncall ical new makes a new one (the old one stops working), {p}oncall ical revoke ends it.",
                token.made.format("%Y-%m-%d"),
                p = ctx.prefix
            ),
        )),
        (Some(IcalAction::New) | None, _) => {
            if ctx.web_url.is_empty() {
                return Err(refused(
                    "the bot serves no web pages: its operator sets [http] listen (and public_url) first",
                ));
            }
            let token = feed::new_token()?;
            let (all, own) = feed::links(ctx.web_url, team.id.as_str(), &me.name, &token);
            let text = format!(
                "Your on-call calendars for {} (subscribe to one in your calendar app; keep the link secret):\n- everyone: {all}\n- your shifts: {own}\n{p}oncall ical revoke ends them.",
                team.name,
                p = ctx.prefix
            );
            let direct = Action::DirectMessage { user: ctx.sender.user.clone(), message: Message::text(text) };
            Ok(say(ctx, "I sent you your calendar links in a direct message.")
                .and(direct)
                .write(ctx.state.put(&feed::record(&me.name, &token, ctx.now))))
        }
    }
}
