//! `#[derive(confd::Brick)]` and `#[derive(confd::Section)]` (DESIGN.md §9).
//!
//! Use them through `confd`, which re-exports both; the generated code names
//! only `::confd` paths, so a brick's crate depends on confd alone.
//!
//! Every mistake the macro can see is a compile error at the attribute that
//! makes it: a field without `default` whose type is no `Section`, an unknown
//! profile, `env_inverted` on a field that is not `bool`, a brick name that
//! cannot be a file name, two bricks of one name in one program.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DeriveInput, Expr, Fields, Ident, LitStr, Path, Token, Type, parse_macro_input,
};

/// The profiles of `confd::Profile`, as users write them and as its variants
/// are named.
const PROFILES: [(&str, &str); 5] = [
    ("minimal", "Minimal"),
    ("embedded", "Embedded"),
    ("lite", "Lite"),
    ("full", "Full"),
    ("cloud", "Cloud"),
];

/// Declares a brick: its name, its keys' defaults per profile, variables,
/// secret and reload marks, documentation, and registers it at link time.
#[proc_macro_derive(Brick, attributes(brick))]
pub fn derive_brick(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input, Derived::Brick)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares a nested table of a brick, with the same field attributes.
#[proc_macro_derive(Section, attributes(brick))]
pub fn derive_section(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input, Derived::Section)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Derived {
    Brick,
    Section,
}

/// What `#[brick(…)]` on the struct says.
#[derive(Default)]
struct StructSpec {
    name: Option<LitStr>,
    validate: Option<Path>,
    shipped_history: Option<Expr>,
}

/// What one field declares.
struct FieldSpec {
    ident: Ident,
    key: String,
    ty: Type,
    doc: String,
    default: Option<Expr>,
    profiles: Vec<(&'static str, Expr)>,
    env: Vec<LitStr>,
    env_inverted: Option<LitStr>,
    secret: bool,
    reload: bool,
}

fn expand(input: &DeriveInput, derived: Derived) -> syn::Result<Tokens> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "a brick's configuration is a struct with named fields (an enum can be one of its values)",
        ));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new(
            data.fields.span(),
            "a brick's configuration is a struct with named fields: each field is a key",
        ));
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "a brick's configuration cannot be generic: its keys are fixed when it is declared",
        ));
    }
    reject_serde_container_attributes(&input.attrs)?;
    let spec = struct_spec(&input.attrs, derived)?;
    let fields = named
        .named
        .iter()
        .map(field_spec)
        .collect::<syn::Result<Vec<_>>>()?;
    // One variable sets one key: a second key reading it would change with
    // the first, unseen.
    let mut seen: Vec<(String, &str)> = Vec::new();
    for field in &fields {
        for var in field.env.iter().chain(&field.env_inverted) {
            let name = var.value();
            if let Some((_, other)) = seen.iter().find(|(v, _)| *v == name) {
                return Err(syn::Error::new(
                    var.span(),
                    format!("`{name}` already sets `{other}`: a variable sets one key"),
                ));
            }
            seen.push((name, &field.key));
        }
    }

    let ty = &input.ident;
    let label = match &spec.name {
        Some(name) => name.value(),
        None => ty.to_string(),
    };
    let defaults = defaults_body(ty, &fields, &label);
    let declare = declare_body(&fields);

    Ok(match derived {
        Derived::Section => quote! {
            impl ::confd::Section for #ty {
                fn defaults(profile: ::confd::Profile) -> Self { #defaults }
                fn declare_keys(prefix: &str, keys: &mut ::std::vec::Vec<::confd::bricks::KeyDecl>) {
                    #declare
                }
            }
        },
        Derived::Brick => {
            let name = spec.name.as_ref().ok_or_else(|| {
                syn::Error::new(
                    input.ident.span(),
                    "a brick needs a name, its file name in conf.d: add `#[brick(name = \"…\")]`",
                )
            })?;
            let doc = doc_of(&input.attrs);
            let validate = spec.validate.as_ref().map(|path| {
                quote_spanned! {path.span()=>
                    fn validate(&self) -> ::std::result::Result<(), ::confd::Violation> { #path(self) }
                }
            });
            let history = spec.shipped_history.as_ref().map(|expr| {
                quote_spanned! {expr.span()=>
                    const SHIPPED_HISTORY: &'static [&'static str] = #expr;
                }
            });
            // A second brick of the same name is an error: in the same crate
            // at compile time (two crate-root macros of one name), in another
            // crate of the same program at link time (one exported symbol per
            // name).
            let symbol = LitStr::new(&format!("__confd_brick_{}", name.value()), name.span());
            let marker = Ident::new(
                &format!("__confd_brick_{}", ident_safe(&name.value())),
                name.span(),
            );
            quote! {
                impl ::confd::Brick for #ty {
                    const NAME: &'static str = #name;
                    const DOC: &'static str = #doc;
                    #history
                    fn defaults(profile: ::confd::Profile) -> Self { #defaults }
                    #validate
                    fn declare_keys(keys: &mut ::std::vec::Vec<::confd::bricks::KeyDecl>) {
                        let prefix = "";
                        #declare
                    }
                }
                ::confd::bricks::__private::inventory::submit! {
                    ::confd::bricks::Registration::of::<#ty>()
                }
                const _: () = {
                    #[unsafe(export_name = #symbol)]
                    static BRICK_NAME_IS_TAKEN_ONCE: u8 = 0;
                };
                #[doc(hidden)]
                #[macro_export]
                macro_rules! #marker { () => {}; }
            }
        }
    })
}

/// `Self { key: default for the profile, … }`.
fn defaults_body(ty: &Ident, fields: &[FieldSpec], label: &str) -> Tokens {
    let inits = fields.iter().map(|field| {
        let ident = &field.ident;
        let field_ty = &field.ty;
        let key = &field.key;
        let Some(default) = &field.default else {
            // No default: a nested table, whose own declaration has them. A
            // type that is no Section gets the trait's on_unimplemented
            // message, pointing at this field.
            return quote_spanned! {field_ty.span()=>
                #ident: <#field_ty as ::confd::Section>::defaults(profile)
            };
        };
        let convert = |expr: &Expr| {
            // `None` needs no conversion, and could not be given a type.
            if matches!(expr, Expr::Path(p) if p.path.is_ident("None")) {
                return quote_spanned! {expr.span()=> ::std::option::Option::None };
            }
            quote_spanned! {expr.span()=>
                ::confd::bricks::__private::convert_default::<#field_ty, _>(&(#expr), #label, #key)
            }
        };
        let arms = field.profiles.iter().map(|(variant, expr)| {
            let variant = Ident::new(variant, Span::call_site());
            let value = convert(expr);
            quote! { ::confd::Profile::#variant => #value, }
        });
        let fallback = convert(default);
        quote! {
            #ident: match profile {
                #(#arms)*
                _ => #fallback,
            }
        }
    });
    quote! { #ty { #(#inits),* } }
}

/// Pushes a `KeyDecl` per field, and a nested section's own under its name.
fn declare_body(fields: &[FieldSpec]) -> Tokens {
    let pushes = fields.iter().map(|field| {
        let FieldSpec {
            key, doc, env, reload, secret, ty, ..
        } = field;
        let env_inverted = field.env_inverted.is_some();
        // One list of variables, first set wins; `env_inverted` says how
        // they are read.
        let vars: Vec<&LitStr> = env.iter().chain(field.env_inverted.iter()).collect();
        let push = quote! {
            keys.push(::confd::bricks::KeyDecl {
                path: ::confd::bricks::__private::key_path(prefix, #key),
                doc: #doc,
                env: &[#(#vars),*],
                env_inverted: #env_inverted,
                secret: #secret,
                reload: #reload,
                table: false,
            });
        };
        if field.default.is_some() {
            push
        } else {
            quote_spanned! {ty.span()=>
                keys.push(::confd::bricks::KeyDecl {
                    path: ::confd::bricks::__private::key_path(prefix, #key),
                    doc: #doc,
                    env: &[],
                    env_inverted: false,
                    // A secret table: everything in it is secret.
                    secret: #secret,
                    reload: false,
                    table: true,
                });
                <#ty as ::confd::Section>::declare_keys(&::confd::bricks::__private::key_path(prefix, #key), keys);
            }
        }
    });
    quote! { #(#pushes)* }
}

fn struct_spec(attrs: &[Attribute], derived: Derived) -> syn::Result<StructSpec> {
    let mut spec = StructSpec::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("brick")) {
        attr.parse_nested_meta(|meta| {
            let section_error = || {
                meta.error("a section takes its name from the field that holds it: only a brick has `name`, `validate` and `shipped_history`")
            };
            if meta.path.is_ident("name") {
                if derived == Derived::Section {
                    return Err(section_error());
                }
                let name: LitStr = meta.value()?.parse()?;
                check_brick_name(&name)?;
                spec.name = Some(name);
            } else if meta.path.is_ident("validate") {
                if derived == Derived::Section {
                    return Err(section_error());
                }
                spec.validate = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("shipped_history") {
                if derived == Derived::Section {
                    return Err(section_error());
                }
                spec.shipped_history = Some(meta.value()?.parse()?);
            } else {
                return Err(meta.error(
                    "unknown brick attribute: the struct takes `name`, `validate` and `shipped_history`",
                ));
            }
            Ok(())
        })?;
    }
    Ok(spec)
}

/// The rules of `confd::BrickName` that a literal can break: the name is
/// also a file name in conf.d.
fn check_brick_name(name: &LitStr) -> syn::Result<()> {
    let text = name.value();
    let valid = !text.is_empty()
        && text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(syn::Error::new(
            name.span(),
            "a brick name is its file name in conf.d: 1 to 64 of a-z, 0-9, `_` and `-`, starting with a letter or digit",
        ))
    }
}

fn field_spec(field: &syn::Field) -> syn::Result<FieldSpec> {
    let ident = field.ident.clone().expect("named fields");
    let mut spec = FieldSpec {
        key: serde_rename(&field.attrs)?.unwrap_or_else(|| ident.to_string()),
        ident,
        ty: field.ty.clone(),
        doc: doc_of(&field.attrs),
        default: None,
        profiles: Vec::new(),
        env: Vec::new(),
        env_inverted: None,
        secret: is_secret_type(&field.ty),
        reload: false,
    };
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("brick")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                if spec.default.is_some() {
                    return Err(meta.error("`default` is given twice"));
                }
                spec.default = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("profile") {
                meta.parse_nested_meta(|profile| {
                    let Some((_, variant)) = PROFILES
                        .iter()
                        .find(|(name, _)| profile.path.is_ident(name))
                    else {
                        return Err(profile.error(
                            "unknown profile: expected one of minimal, embedded, lite, full, cloud",
                        ));
                    };
                    if spec.profiles.iter().any(|(v, _)| v == variant) {
                        return Err(profile.error("this profile's default is given twice"));
                    }
                    spec.profiles.push((variant, profile.value()?.parse()?));
                    Ok(())
                })?;
            } else if meta.path.is_ident("env") {
                let value = meta.value()?;
                if value.peek(syn::token::Bracket) {
                    let content;
                    syn::bracketed!(content in value);
                    let vars = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
                    spec.env.extend(vars);
                } else {
                    spec.env.push(value.parse()?);
                }
            } else if meta.path.is_ident("env_inverted") {
                if !is_bool(&spec.ty) {
                    return Err(meta.error(
                        "`env_inverted` needs a `bool` field: a true variable sets it to false",
                    ));
                }
                spec.env_inverted = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("secret") {
                spec.secret = true;
            } else if meta.path.is_ident("reload") {
                spec.reload = true;
            } else {
                return Err(meta.error(
                    "unknown brick attribute: a field takes `default`, `profile(…)`, `env`, `env_inverted`, `secret` and `reload`",
                ));
            }
            Ok(())
        })?;
    }
    for var in spec.env.iter().chain(&spec.env_inverted) {
        let name = var.value();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(syn::Error::new(
                var.span(),
                "an environment variable's name is A-Z, 0-9 and `_`",
            ));
        }
    }
    if let (Some(inverted), false) = (&spec.env_inverted, spec.env.is_empty()) {
        return Err(syn::Error::new(
            inverted.span(),
            "a key is set by plain variables (`env`) or by inverted ones (`env_inverted`), not both",
        ));
    }
    if spec.default.is_none()
        && (!spec.profiles.is_empty()
            || !spec.env.is_empty()
            || spec.env_inverted.is_some()
            || spec.reload)
    {
        return Err(syn::Error::new(
            spec.ident.span(),
            "this key needs `default = …` (a field without one is a nested table whose type derives `confd::Section`)",
        ));
    }
    Ok(spec)
}

/// `#[serde(rename = "…")]` on a field; the other serde attributes that
/// would make the keys differ from the declaration are refused.
fn serde_rename(attrs: &[Attribute]) -> syn::Result<Option<String>> {
    let mut rename = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") && meta.input.peek(syn::token::Paren) {
                // `rename(serialize = "…", deserialize = "…")`: one name for both.
                let mut names = Vec::new();
                meta.parse_nested_meta(|side| {
                    names.push(side.value()?.parse::<LitStr>()?.value());
                    Ok(())
                })?;
                names.dedup();
                match names.as_slice() {
                    [name] => rename = Some(name.clone()),
                    _ => {
                        return Err(meta.error(
                            "a key is read and written under one name: give `serialize` and `deserialize` the same one",
                        ));
                    }
                }
            } else if meta.path.is_ident("rename") {
                rename = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("alias") {
                return Err(meta.error(
                    "a key has one name in the file: an alias would be a second key serde refuses \
                     once both are set (keep the old name working with `env`, or rename the key)",
                ));
            } else if meta.path.is_ident("flatten")
                || meta.path.is_ident("skip")
                || meta.path.is_ident("skip_serializing")
                || meta.path.is_ident("skip_deserializing")
            {
                return Err(meta.error(
                    "confd declares every field as a key: `flatten` and `skip…` are not supported here",
                ));
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        })?;
    }
    Ok(rename)
}

/// Consumes what follows a serde attribute confd has no opinion on
/// (`= value` or `(…)`), so the next one can be read.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<Tokens>()?;
    }
    Ok(())
}

fn reject_serde_container_attributes(attrs: &[Attribute]) -> syn::Result<()> {
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") || meta.path.is_ident("tag") {
                return Err(meta.error(
                    "confd declares each key by its field name: use `#[serde(rename = \"…\")]` on the field instead",
                ));
            }
            for other in ["from", "try_from", "into", "transparent", "untagged", "content"] {
                if meta.path.is_ident(other) {
                    return Err(meta.error(format!(
                        "`#[serde({other})]` would make the file's keys differ from the declared ones: \
                         declare the keys the file holds"
                    )));
                }
            }
            skip_value(&meta)
        })?;
    }
    Ok(())
}

/// The doc comment, one line per `///` line, without the space after `///`.
fn doc_of(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_owned()
        })
        .collect();
    lines.join("\n").trim().to_owned()
}

/// A brick name as an identifier, one-to-one: `_` and `-` are escaped.
fn ident_safe(name: &str) -> String {
    name.replace('_', "_u").replace('-', "_h")
}

fn last_segment(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| &s.ident),
        _ => None,
    }
}

/// `confd::Secret` (by its last path segment, as the macro sees types only
/// by name) is secret without saying so.
fn is_secret_type(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|ident| ident == "Secret")
}

fn is_bool(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|ident| ident == "bool")
}
