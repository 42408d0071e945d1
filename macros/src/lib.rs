//! Derive macros for Firebell plugins, so that a plugin declares its commands and settings once,
//! typed:
//!
//! - `#[derive(Command)]` on a struct: one command, its arguments as the struct's fields. The
//!   struct's doc comment is the command's summary; `#[command(word = "…", sub = "…",
//!   permission = TeamMembers)]` names it; each field's `#[arg(…)]` says what it takes (`text`,
//!   `word`, `user`, `incident`, `ticket`, `number`, `duration`, `flag`, `option = "N"`). A field
//!   that is not an `Option` (nor a flag) is required.
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
/// admin may switch off; `shared_streams = ["timeline:"]` for the streams (by name prefix) that
/// other plugins may append to, through the functions this plugin's crate exports.
#[proc_macro_derive(PluginInfo, attributes(plugin))]
pub fn derive_plugin_info(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    plugin_info(&input).unwrap_or_else(syn::Error::into_compile_error).into()
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

fn arg_of(field: &syn::Field) -> syn::Result<Arg> {
    let mut found = None;
    for attr in field.attrs.iter().filter(|attr| attr.path().is_ident("arg")) {
        let mut arg = Arg { kind: String::new(), value: None, name: None };
        attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(Ident::to_string).unwrap_or_default();
            match key.as_str() {
                "name" => arg.name = Some(meta.value()?.parse::<LitStr>()?.value()),
                "option" => {
                    arg.kind = "option".into();
                    arg.value = Some(meta.value()?.parse::<LitStr>()?.value());
                }
                "text" | "word" | "user" | "incident" | "ticket" | "number" | "duration" | "flag" => arg.kind = key,
                _ => return Err(meta.error("expected text, word, user, incident, ticket, number, duration, flag, option = \"N\" or name = \"…\"")),
            }
            Ok(())
        })?;
        found = Some(arg);
    }
    found.ok_or_else(|| syn::Error::new_spanned(field, "every argument needs #[arg(…)]"))
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
    let permission = permission.unwrap_or_else(|| format_ident!("TeamRooms"));
    let sub = match sub {
        Some(sub) => quote!(::core::option::Option::Some(#sub)),
        None => quote!(::core::option::Option::None),
    };
    let mut params = Vec::new();
    let mut reads = Vec::new();
    for field in &named_fields(input)?.named {
        let ident = field.ident.as_ref().expect("named");
        let arg = arg_of(field)?;
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
            kind => {
                let constructor = format_ident!("{kind}");
                quote!(::firebell_core::declare::Param::#constructor(#param))
            }
        };
        params.push(if optional { declared } else { quote!(#declared.required()) });
        let read = match arg.kind.as_str() {
            "text" | "word" | "ticket" | "option" => quote!(args.text(#param).map(::std::borrow::ToOwned::to_owned)),
            "user" => quote!(args.user(#param).cloned()),
            "incident" | "number" => quote!(args.number(#param)),
            "duration" => quote!(args.duration(#param)),
            _ => quote!(args.flag(#param)),
        };
        reads.push(if optional {
            quote!(#ident: #read)
        } else {
            quote!(#ident: #read.ok_or_else(|| ::firebell_core::declare::missing(#param))?)
        });
    }
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
                ::core::result::Result::Ok(Self { #(#reads),* })
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

fn plugin_info(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let description = doc(&input.attrs);
    let (mut plugin, mut commands, mut settings, mut always_on) = (None, None, None, false);
    let mut shared_streams: Vec<LitStr> = Vec::new();
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
            } else {
                return Err(meta.error("expected name, commands, settings, shared_streams or always_on"));
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
                    _ => return Err(meta.error("expected default, min, max, word, member or max_chars")),
                }
                Ok(())
            })?;
        }
        let default = default.ok_or_else(|| syn::Error::new_spanned(field, "#[setting(default = …)] is missing"))?;
        let ty = &field.ty;
        let type_name = quote!(#ty).to_string();
        let (kind, default_text, read) = match (&default, type_name.as_str()) {
            (Lit::Str(text), "Duration" | "std :: time :: Duration") => {
                let bounds = |bound: &Option<Lit>, fallback: u64| match bound {
                    Some(Lit::Str(text)) => seconds(text),
                    None => Ok(fallback),
                    Some(other) => Err(syn::Error::new_spanned(other, "expected a duration like \"30m\"")),
                };
                seconds(text)?;
                let (low, high) = (bounds(&min, 1)?, bounds(&max, 86_400)?);
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
            (Lit::Int(number), _) => {
                let bound = |bound: &Option<Lit>, fallback: i64| -> syn::Result<i64> {
                    match bound {
                        Some(Lit::Int(int)) => int.base10_parse(),
                        None => Ok(fallback),
                        Some(other) => Err(syn::Error::new_spanned(other, "expected a number")),
                    }
                };
                let (low, high) = (bound(&min, i64::MIN)?, bound(&max, i64::MAX)?);
                (
                    quote!(::firebell_core::settings::SettingKind::integer(#low, #high)),
                    number.base10_digits().to_owned(),
                    quote!(settings.integer(#key) as #ty),
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
            _ => {
                return Err(syn::Error::new_spanned(
                    field,
                    "expected a Duration with default = \"30m\", a number, a bool, or a String marked word or member",
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
