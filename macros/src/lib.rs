//! Derive macros for Firebell plugins, so that a plugin declares its commands and settings once,
//! typed:
//!
//! - `#[derive(Command)]` on a struct: one command, its arguments as the struct's fields. The
//!   struct's doc comment is the command's summary; `#[command(word = "…", sub = "…",
//!   permission = TeamMembers)]` names it and says who may run it (required); each field's
//!   `#[arg(…)]` says what it takes (`text`, `word`, `user`, `incident`, `ticket`, `number`,
//!   `duration`, `flag`, `choice`, `option = "N"`), or its type does without one (`bool` a flag,
//!   `Duration` a duration like `1h 30m`, `u64` a number, `Person` a mention, anything else one
//!   word read with `FromStr`). A field that is not an `Option` (nor a flag) is required; its
//!   doc comment is shown by `!help <command>`. A unit struct is a command without arguments.
//! - `#[derive(Choice)]` on an enum without fields: a fixed list of words for `#[arg(choice)]`.
//! - `#[derive(Commands)]` on an enum of such structs: every command of a plugin, read from an
//!   invocation into the right variant.
//! - `#[derive(Settings)]` on a struct: a plugin's per-team settings, one per field, with the
//!   field's doc comment as description and `#[setting(default = …, min = …, max = …)]` as
//!   default and bounds (`"30m"` for a duration, numbers for a number), or `word`, `max_chars`,
//!   `member` for text.
//!
//! The generated code uses `firebell_core::declare`, which a plugin reaches through its
//! dependency on `firebell-core`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote};
use syn::{Attribute, Data, DeriveInput, Expr, Fields, Ident, Lit, LitStr, Type, parse_macro_input};

/// Declares one command from a struct of its arguments. See the crate's documentation.
#[proc_macro_derive(Command, attributes(command, arg))]
pub fn derive_command(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    command(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Declares every command of a plugin from an enum of command structs.
#[proc_macro_derive(Commands)]
pub fn derive_commands(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    commands(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Declares a plugin: `#[plugin(name = "…", commands = CommandSet, settings = Settings)]` on
/// the plugin's type, whose doc comment is its description; `always_on` for a plugin no team
/// admin may switch off; `records = [Window, Drill]` for the record types it keeps (for
/// `firebell migrate`); `shared_streams = ["timeline:"]` for the streams (by name prefix) that
/// other plugins may append to, through the functions this plugin's crate exports.
#[proc_macro_derive(PluginInfo, attributes(plugin))]
pub fn derive_plugin_info(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    plugin_info(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Declares a fixed list of words from an enum without fields, for `#[arg(choice)]`: each
/// variant is its name in kebab case (`PartialOutage` is `partial-outage`), or
/// `#[choice(name = "…")]`.
#[proc_macro_derive(Choice, attributes(choice))]
pub fn derive_choice(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    choice(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Declares a kind of job from the type of its data: `#[job(kind = "expire")]`.
#[proc_macro_derive(JobData, attributes(job))]
pub fn derive_job_data(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    job_data(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Declares a record type: `#[record(kind = "window", id = component, listed = [ACTIVE])]`,
/// with `schema = N` when it is not 1 (then `migrate` is the type's own associated function
/// `migrate(schema, data)`), `unique = ["index"]`, and `listed` for the typed indexes
/// ([`Index`]) that list every record under their empty key. A record with indexes keyed by
/// its fields implements `Record` by hand.
#[proc_macro_derive(Record, attributes(record))]
pub fn derive_record(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    record(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

fn job_data(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let mut kind = None;
    for attr in input.attrs.iter().filter(|attr| attr.path().is_ident("job")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("kind") {
                kind = Some(meta.value()?.parse::<LitStr>()?);
                Ok(())
            } else {
                Err(meta.error("expected kind = \"…\""))
            }
        })?;
    }
    let kind = kind.ok_or_else(|| syn::Error::new_spanned(name, "#[job(kind = \"…\")] is missing"))?;
    if kind.value().is_empty() || kind.value().contains(':') {
        return Err(syn::Error::new_spanned(kind, "a job kind is a word without ':'"));
    }
    Ok(quote! {
        impl ::firebell_core::job::JobData for #name {
            const KIND: &'static str = #kind;
        }
    })
}

fn record(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let (mut kind, mut id, mut schema, mut listed, mut unique) = (None, None, None, Vec::new(), Vec::new());
    for attr in input.attrs.iter().filter(|attr| attr.path().is_ident("record")) {
        attr.parse_nested_meta(|meta| {
            let what = meta.path.get_ident().map(Ident::to_string).unwrap_or_default();
            match what.as_str() {
                "kind" => kind = Some(meta.value()?.parse::<LitStr>()?),
                "id" => id = Some(meta.value()?.parse::<Ident>()?),
                "schema" => schema = Some(meta.value()?.parse::<syn::LitInt>()?),
                "listed" | "unique" => {
                    let value = meta.value()?;
                    let content;
                    syn::bracketed!(content in value);
                    if what == "listed" {
                        listed.extend(content.parse_terminated(|input| input.parse::<syn::Path>(), syn::Token![,])?);
                    } else {
                        unique.extend(content.parse_terminated(|input| input.parse::<LitStr>(), syn::Token![,])?);
                    }
                }
                _ => return Err(meta.error("expected kind, id, schema, listed or unique")),
            }
            Ok(())
        })?;
    }
    let kind = kind.ok_or_else(|| syn::Error::new_spanned(name, "#[record(kind = \"…\")] is missing"))?;
    let id = id.ok_or_else(|| syn::Error::new_spanned(name, "#[record(id = field)] is missing"))?;
    let schema = match &schema {
        Some(schema) => quote! {
            const SCHEMA: u32 = #schema;

            fn migrate(schema: u32, data: ::firebell_core::serde_json::Value) -> ::core::result::Result<::firebell_core::serde_json::Value, ::std::string::String> {
                #name::migrate(schema, data)
            }
        },
        None => quote!(),
    };
    Ok(quote! {
        impl ::firebell_core::state::Record for #name {
            const KIND: &'static str = #kind;
            const UNIQUE: &'static [&'static str] = &[#(#unique),*];
            #schema

            fn id(&self) -> ::std::string::String {
                ::std::string::ToString::to_string(&self.#id)
            }

            fn indexes(&self) -> ::std::vec::Vec<(&'static str, ::std::string::String)> {
                ::std::vec![#(#listed.entry("")),*]
            }
        }
    })
}

/// Declares a plugin's settings from a struct. See the crate's documentation.
#[proc_macro_derive(Settings, attributes(setting))]
pub fn derive_settings(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    settings(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// The first paragraph of an item's doc comment, on one line.
fn doc(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("doc")) {
        if let syn::Meta::NameValue(meta) = &attr.meta
            && let Expr::Lit(expr) = &meta.value
            && let Lit::Str(text) = &expr.lit
        {
            let line = text.value().trim().to_owned();
            if line.is_empty() && !lines.is_empty() {
                break;
            }
            if !line.is_empty() {
                lines.push(line);
            }
        }
    }
    lines.join(" ")
}

fn named_fields(input: &DeriveInput) -> syn::Result<&syn::FieldsNamed> {
    match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => Ok(fields),
            _ => Err(syn::Error::new_spanned(input, "expected a struct with named fields")),
        },
        _ => Err(syn::Error::new_spanned(input, "expected a struct")),
    }
}

/// The type inside `Option<…>`, if `ty` is one.
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        syn::GenericArgument::Type(inner) => Some(inner),
        _ => None,
    }
}

/// What `#[arg(…)]` says of a field.
struct Arg {
    kind: String,
    value: Option<String>,
    name: Option<String>,
}

/// The last name of a type's path: `Duration` for `std::time::Duration`.
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default(),
        _ => String::new(),
    }
}

/// The kind of an argument without `#[arg(…)]`, from its type.
fn inferred_kind(ty: &Type) -> &'static str {
    match type_name(ty).as_str() {
        "bool" => "flag",
        "Duration" => "duration",
        "u64" => "number",
        "Person" => "user",
        _ => "word",
    }
}

fn arg_of(field: &syn::Field, ty: &Type) -> syn::Result<Arg> {
    let mut arg = Arg { kind: String::new(), value: None, name: None };
    for attr in field.attrs.iter().filter(|attr| attr.path().is_ident("arg")) {
        attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(Ident::to_string).unwrap_or_default();
            match key.as_str() {
                "name" => arg.name = Some(meta.value()?.parse::<LitStr>()?.value()),
                "option" => {
                    arg.kind = "option".into();
                    arg.value = Some(meta.value()?.parse::<LitStr>()?.value());
                }
                "text" | "word" | "user" | "incident" | "ticket" | "number" | "duration" | "flag" | "choice" => {
                    arg.kind = key
                }
                _ => return Err(meta.error("expected text, word, user, incident, ticket, number, duration, flag, choice, option = \"N\" or name = \"…\"")),
            }
            Ok(())
        })?;
    }
    if arg.kind.is_empty() {
        arg.kind = inferred_kind(ty).to_owned();
    }
    Ok(arg)
}

/// How a field's value is read from the arguments, as an `Option` of the field's (inner) type.
fn read_arg(kind: &str, param: &str, ty: &Type) -> Tokens {
    match kind {
        "text" | "word" | "ticket" | "option" if type_name(ty) == "String" => {
            quote!(args.text(#param).map(::std::borrow::ToOwned::to_owned))
        }
        "text" | "word" | "ticket" | "option" => quote! {
            args.text(#param)
                .map(|given| given.parse::<#ty>().map_err(|err| ::firebell_core::declare::bad_argument(#param, given, err)))
                .transpose()?
        },
        "choice" => quote!(args.text(#param).and_then(<#ty as ::firebell_core::declare::Choice>::from_choice)),
        "user" => quote!(args.user(#param).cloned()),
        "incident" | "number" if type_name(ty) == "u64" => quote!(args.number(#param)),
        "incident" | "number" => quote! {
            args.number(#param)
                .map(|given| <#ty>::try_from(given).map_err(|err| ::firebell_core::declare::bad_argument(#param, &given.to_string(), err)))
                .transpose()?
        },
        "duration" => quote!(args.duration(#param)),
        _ => quote!(::core::option::Option::Some(args.flag(#param))),
    }
}

fn command(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let summary = doc(&input.attrs);
    let (mut word, mut sub, mut permission) = (None, None, None);
    for attr in input.attrs.iter().filter(|attr| attr.path().is_ident("command")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("word") {
                word = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("sub") {
                sub = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("permission") {
                permission = Some(meta.value()?.parse::<Ident>()?);
            } else {
                return Err(meta.error("expected word, sub or permission"));
            }
            Ok(())
        })?;
    }
    let word = word.ok_or_else(|| syn::Error::new_spanned(name, "#[command(word = \"…\")] is missing"))?;
    let permission = permission.ok_or_else(|| {
        syn::Error::new_spanned(
            name,
            "#[command(permission = …)] is missing: say who may run it (Anyone, TeamRooms, TeamMembers, IncidentCoordinator or TeamAdmins)",
        )
    })?;
    let sub = match sub {
        Some(sub) => quote!(::core::option::Option::Some(#sub)),
        None => quote!(::core::option::Option::None),
    };
    let fields: Vec<&syn::Field> = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => fields.named.iter().collect(),
            Fields::Unit => Vec::new(),
            Fields::Unnamed(_) => {
                return Err(syn::Error::new_spanned(input, "expected a struct with named fields, or a unit struct"));
            }
        },
        _ => return Err(syn::Error::new_spanned(input, "expected a struct")),
    };
    let mut params = Vec::new();
    let mut reads = Vec::new();
    for field in fields {
        let ident = field.ident.as_ref().expect("named");
        let ty = option_inner(&field.ty).unwrap_or(&field.ty);
        let arg = arg_of(field, ty)?;
        let param = arg
            .name
            .clone()
            .unwrap_or_else(|| if arg.kind == "incident" { "id".into() } else { ident.to_string().replace('_', "-") });
        let optional = option_inner(&field.ty).is_some() || arg.kind == "flag";
        let declared = match arg.kind.as_str() {
            "incident" => quote!(::firebell_core::declare::Param::incident()),
            "option" => {
                let value = arg.value.clone().unwrap_or_default();
                quote!(::firebell_core::declare::Param::option(#param, #value))
            }
            "choice" => {
                quote!(::firebell_core::declare::Param::choice(#param, <#ty as ::firebell_core::declare::Choice>::CHOICES))
            }
            kind => {
                let constructor = format_ident!("{kind}");
                quote!(::firebell_core::declare::Param::#constructor(#param))
            }
        };
        let described = match doc(&field.attrs) {
            text if text.is_empty() => declared,
            text => quote!(#declared.doc(#text)),
        };
        params.push(if optional { described } else { quote!(#described.required()) });
        let read = read_arg(&arg.kind, &param, ty);
        reads.push(match (arg.kind.as_str(), optional) {
            ("flag", _) => quote!(#ident: args.flag(#param)),
            (_, true) => quote!(#ident: #read),
            (_, false) => quote!(#ident: #read.ok_or_else(|| ::firebell_core::declare::missing(#param))?),
        });
    }
    let construct = match &input.data {
        Data::Struct(data) if matches!(data.fields, Fields::Unit) => quote!(Self),
        _ => quote!(Self { #(#reads),* }),
    };
    Ok(quote! {
        impl ::firebell_core::declare::Command for #name {
            const SPEC: ::firebell_core::declare::CommandSpec = ::firebell_core::declare::CommandSpec {
                word: #word,
                sub: #sub,
                params: &[#(#params),*],
                summary: #summary,
                permission: ::firebell_core::declare::Permission::#permission,
            };

            fn from_args(args: &::firebell_core::declare::Args) -> ::core::result::Result<Self, ::firebell_core::plugin::PluginError> {
                let _ = args;
                ::core::result::Result::Ok(#construct)
            }
        }

        impl ::firebell_core::declare::CommandSet for #name {
            const SPECS: &'static [::firebell_core::declare::CommandSpec] =
                &[<#name as ::firebell_core::declare::Command>::SPEC];

            fn from_invocation(invocation: &::firebell_core::plugin::Invocation) -> ::core::result::Result<Self, ::firebell_core::plugin::PluginError> {
                <#name as ::firebell_core::declare::Command>::from_args(&invocation.args)
            }
        }
    })
}

/// `PartialOutage` as a word: `partial-outage`.
fn kebab(name: &str) -> String {
    let mut word = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            word.push('-');
        }
        word.extend(c.to_lowercase());
    }
    word
}

fn choice(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(input, "expected an enum of choices"));
    };
    let mut words = Vec::new();
    let mut idents = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(variant, "a choice is a variant without fields"));
        }
        let mut word = kebab(&variant.ident.to_string());
        for attr in variant.attrs.iter().filter(|attr| attr.path().is_ident("choice")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    word = meta.value()?.parse::<LitStr>()?.value();
                    Ok(())
                } else {
                    Err(meta.error("expected name = \"…\""))
                }
            })?;
        }
        words.push(word);
        idents.push(&variant.ident);
    }
    Ok(quote! {
        impl ::firebell_core::declare::Choice for #name {
            const CHOICES: &'static [&'static str] = &[#(#words),*];

            fn from_choice(word: &str) -> ::core::option::Option<Self> {
                #(if word.eq_ignore_ascii_case(#words) { return ::core::option::Option::Some(Self::#idents); })*
                ::core::option::Option::None
            }

            fn as_choice(&self) -> &'static str {
                match self { #(Self::#idents => #words),* }
            }
        }
    })
}

fn plugin_info(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let description = doc(&input.attrs);
    let (mut plugin, mut commands, mut settings, mut always_on) = (None, None, None, false);
    let mut shared_streams: Vec<LitStr> = Vec::new();
    let mut records: Vec<syn::Path> = Vec::new();
    for attr in input.attrs.iter().filter(|attr| attr.path().is_ident("plugin")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                plugin = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("commands") {
                commands = Some(meta.value()?.parse::<syn::Path>()?);
            } else if meta.path.is_ident("settings") {
                settings = Some(meta.value()?.parse::<syn::Path>()?);
            } else if meta.path.is_ident("always_on") {
                always_on = true;
            } else if meta.path.is_ident("shared_streams") {
                let value = meta.value()?;
                let content;
                syn::bracketed!(content in value);
                shared_streams.extend(content.parse_terminated(|input| input.parse::<LitStr>(), syn::Token![,])?);
            } else if meta.path.is_ident("records") {
                let value = meta.value()?;
                let content;
                syn::bracketed!(content in value);
                records.extend(content.parse_terminated(|input| input.parse::<syn::Path>(), syn::Token![,])?);
            } else {
                return Err(meta.error("expected name, commands, settings, records, shared_streams or always_on"));
            }
            Ok(())
        })?;
    }
    let plugin = plugin.ok_or_else(|| syn::Error::new_spanned(name, "#[plugin(name = \"…\")] is missing"))?;
    let commands = match commands {
        Some(set) => quote!(<#set as ::firebell_core::declare::CommandSet>::SPECS),
        None => quote!(&[]),
    };
    let settings = match settings {
        Some(set) => quote!(<#set as ::firebell_core::settings::PluginSettings>::SPECS),
        None => quote!(&[]),
    };
    Ok(quote! {
        impl ::firebell_core::plugin::PluginInfo for #name {
            fn name(&self) -> &'static str {
                #plugin
            }

            fn description(&self) -> &'static str {
                #description
            }

            fn commands(&self) -> &'static [::firebell_core::declare::CommandSpec] {
                #commands
            }

            fn settings(&self) -> &'static [::firebell_core::settings::SettingSpec] {
                #settings
            }

            fn can_be_disabled(&self) -> bool {
                !#always_on
            }

            fn shared_streams(&self) -> &'static [&'static str] {
                &[#(#shared_streams),*]
            }

            fn records(&self) -> &'static [::firebell_core::state::RecordType] {
                const RECORDS: &[::firebell_core::state::RecordType] =
                    &[#(::firebell_core::state::RecordType::of::<#records>()),*];
                RECORDS
            }
        }
    })
}

fn commands(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(input, "expected an enum of commands"));
    };
    let mut specs = Vec::new();
    let mut arms = Vec::new();
    for variant in &data.variants {
        let ident = &variant.ident;
        let Fields::Unnamed(fields) = &variant.fields else {
            return Err(syn::Error::new_spanned(variant, "expected Variant(CommandStruct)"));
        };
        let ty = &fields.unnamed.first().expect("one field").ty;
        specs.push(quote!(<#ty as ::firebell_core::declare::Command>::SPEC));
        arms.push(quote! {
            if ::firebell_core::declare::matches::<#ty>(invocation.spec) {
                return ::core::result::Result::Ok(Self::#ident(<#ty as ::firebell_core::declare::Command>::from_args(&invocation.args)?));
            }
        });
    }
    Ok(quote! {
        impl ::firebell_core::declare::CommandSet for #name {
            const SPECS: &'static [::firebell_core::declare::CommandSpec] = &[#(#specs),*];

            fn from_invocation(invocation: &::firebell_core::plugin::Invocation) -> ::core::result::Result<Self, ::firebell_core::plugin::PluginError> {
                #(#arms)*
                ::core::result::Result::Err(::firebell_core::plugin::PluginError::Refused(
                    ::std::format!("no command {} here", invocation.name()),
                ))
            }
        }
    })
}

/// A value of `#[setting(…)]`: a literal number, boolean or string.
fn literal(value: &Expr) -> syn::Result<Lit> {
    match value {
        Expr::Lit(lit) => Ok(lit.lit.clone()),
        Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => {
            let Expr::Lit(lit) = &*unary.expr else { return Err(syn::Error::new_spanned(value, "expected a literal")) };
            let Lit::Int(int) = &lit.lit else { return Err(syn::Error::new_spanned(value, "expected a number")) };
            Ok(Lit::Int(syn::LitInt::new(&format!("-{}", int.base10_digits()), int.span())))
        }
        _ => Err(syn::Error::new_spanned(value, "expected a literal")),
    }
}

/// The values an integer type holds, within `i64` (how settings keep numbers).
fn integer_range(name: &str) -> Option<(i64, i64)> {
    Some(match name {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, i64::MAX),
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN, i64::MAX),
        _ => return None,
    })
}

fn seconds(text: &LitStr) -> syn::Result<u64> {
    humantime::parse_duration(&text.value())
        .map(|duration| duration.as_secs())
        .map_err(|err| syn::Error::new_spanned(text, format!("not a duration: {err}")))
}

fn settings(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let mut specs = Vec::new();
    let mut reads = Vec::new();
    for field in &named_fields(input)?.named {
        let ident = field.ident.as_ref().expect("named");
        let key = ident.to_string();
        let description = doc(&field.attrs);
        let (mut default, mut min, mut max, mut word, mut member, mut max_chars) =
            (None, None, None, false, false, 64usize);
        let mut expected: Option<String> = None;
        for attr in field.attrs.iter().filter(|attr| attr.path().is_ident("setting")) {
            attr.parse_nested_meta(|meta| {
                let what = meta.path.get_ident().map(Ident::to_string).unwrap_or_default();
                match what.as_str() {
                    "default" => default = Some(literal(&meta.value()?.parse()?)?),
                    "min" => min = Some(literal(&meta.value()?.parse()?)?),
                    "max" => max = Some(literal(&meta.value()?.parse()?)?),
                    "max_chars" => max_chars = meta.value()?.parse::<syn::LitInt>()?.base10_parse()?,
                    "word" => word = true,
                    "member" => member = true,
                    "expected" => expected = Some(meta.value()?.parse::<LitStr>()?.value()),
                    _ => return Err(meta.error("expected default, min, max, word, member, max_chars or expected")),
                }
                Ok(())
            })?;
        }
        let default = default.ok_or_else(|| syn::Error::new_spanned(field, "#[setting(default = …)] is missing"))?;
        let ty = &field.ty;
        let (kind, default_text, read) = match (&default, type_name(ty).as_str()) {
            (Lit::Str(text), "Duration") => {
                let bound = |bound: &Option<Lit>, which: &str| match bound {
                    Some(Lit::Str(text)) => seconds(text),
                    None => Err(syn::Error::new_spanned(
                        field,
                        format!(
                            "#[setting({which} = …)] is missing: a duration needs both bounds, e.g. min = \"1m\", max = \"1day\""
                        ),
                    )),
                    Some(other) => Err(syn::Error::new_spanned(other, "expected a duration like \"30m\"")),
                };
                seconds(text)?;
                let (low, high) = (bound(&min, "min")?, bound(&max, "max")?);
                (
                    quote!(::firebell_core::settings::SettingKind::duration(
                        ::std::time::Duration::from_secs(#low),
                        ::std::time::Duration::from_secs(#high)
                    )),
                    text.value(),
                    quote!(settings.duration(#key)),
                )
            }
            (Lit::Bool(flag), "bool") => (
                quote!(::firebell_core::settings::SettingKind::Bool),
                flag.value.to_string(),
                quote!(settings.flag(#key)),
            ),
            (Lit::Int(number), name) => {
                let (type_low, type_high) = integer_range(name).ok_or_else(|| {
                    syn::Error::new_spanned(ty, "a number setting needs an integer type (u32, i64, …)")
                })?;
                let bound = |bound: &Option<Lit>, fallback: i64| -> syn::Result<i64> {
                    let value = match bound {
                        Some(Lit::Int(int)) => int.base10_parse()?,
                        None => return Ok(fallback),
                        Some(other) => return Err(syn::Error::new_spanned(other, "expected a number")),
                    };
                    if (type_low..=type_high).contains(&value) {
                        Ok(value)
                    } else {
                        Err(syn::Error::new_spanned(bound, format!("{value} does not fit in {name}")))
                    }
                };
                let (low, high) = (bound(&min, type_low)?, bound(&max, type_high)?);
                (
                    quote!(::firebell_core::settings::SettingKind::integer(#low, #high)),
                    number.base10_digits().to_owned(),
                    // Every value is within the bounds, which fit the type: the fallback is for
                    // settings read with no team (all defaults).
                    quote!(<#ty>::try_from(settings.integer(#key)).unwrap_or(#number)),
                )
            }
            (Lit::Str(text), _) if member => (
                quote!(::firebell_core::settings::SettingKind::Member),
                text.value(),
                quote!(settings.text(#key).to_owned()),
            ),
            (Lit::Str(text), _) if word => (
                quote!(::firebell_core::settings::SettingKind::Word { max_chars: #max_chars }),
                text.value(),
                quote!(settings.text(#key).to_owned()),
            ),
            (Lit::Str(text), name) if name != "String" => {
                let expected = expected.clone().unwrap_or_else(|| format!("a {name}"));
                (
                    quote!(::firebell_core::settings::SettingKind::Parsed {
                        expected: #expected,
                        check: ::firebell_core::settings::ParseCheck({
                            fn reads(value: &str) -> bool {
                                value.parse::<#ty>().is_ok()
                            }
                            reads
                        }),
                    }),
                    text.value(),
                    // The registry checks that the default reads when the plugin registers.
                    quote!(settings.text(#key).parse::<#ty>().or_else(|_| #text.parse::<#ty>()).ok().expect("defaults are checked at registration")),
                )
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    field,
                    "expected a Duration with default = \"30m\" and min and max, a number, a bool, a String marked word or member, or a FromStr type with a default = \"…\"",
                ));
            }
        };
        specs.push(quote! {
            ::firebell_core::settings::SettingSpec { key: #key, kind: #kind, default: #default_text, description: #description }
        });
        reads.push(quote!(#ident: #read));
    }
    Ok(quote! {
        impl ::firebell_core::settings::PluginSettings for #name {
            const SPECS: &'static [::firebell_core::settings::SettingSpec] = &[#(#specs),*];

            fn read(settings: &::firebell_core::settings::Settings) -> Self {
                Self { #(#reads),* }
            }
        }
    })
}
