//! Credential claims → Cedar values, typed by the user's schema.
//!
//! The schema declares, per credential type, the claims policies may read:
//! `Holder.claims` is a record whose attributes are credential types and
//! whose values are records of claims, e.g.
//! `claims: { EmployeeCredential?: { role?: String, groups?: Set<String> } }`.
//! A request fills `principal.claims.EmployeeCredential` from the one
//! credential that counts as an `EmployeeCredential` (its issuer is trusted
//! for that type), so a claim is only ever read under a type its issuer
//! vouches for; claims of different credentials are never merged.
//!
//! Claims the schema does not declare are dropped; a claim whose JSON type
//! doesn't fit its declaration is dropped too. Both fail closed: a policy
//! that tests `principal.claims has EmployeeCredential.role` sees it as absent.

use std::collections::HashMap;

use cedar_policy::RestrictedExpression;
use serde_json::Value;

use crate::ClaimsByType;

/// A Cedar type as far as claims conversion needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    String,
    Long,
    Bool,
    Set(Box<Ty>),
    Record(HashMap<String, Ty>),
    Ip,
    Decimal,
}

/// The declared shape of `Holder.claims`: per credential type, its claims.
pub(crate) type ClaimShape = HashMap<String, HashMap<String, Ty>>;

/// Find `Holder.claims` in the JSON form of the schema (`namespace Didgate`).
/// Every attribute of it must be a record (a credential type's claims).
pub(crate) fn claim_shape(schema_json: &Value) -> Result<ClaimShape, String> {
    let ns = &schema_json["Didgate"];
    let common = &ns["commonTypes"];
    let holder = &ns["entityTypes"]["Holder"]["shape"];
    let holder = resolve_common(holder, common);
    let claims = &holder["attributes"]["claims"];
    if claims.is_null() {
        return Ok(HashMap::new());
    }
    let Some(Ty::Record(types)) = parse_ty(claims, common) else {
        return Err("Holder.claims must be a record of credential types".into());
    };
    types
        .into_iter()
        .map(|(name, ty)| match ty {
            Ty::Record(fields) => Ok((name, fields)),
            _ => Err(format!(
                "Holder.claims.{name} is not a record: Holder.claims maps each credential type \
                 to that credential's claims, e.g. `claims: {{ EmployeeCredential?: {{ role?: String }} }}` \
                 (policies then read `principal.claims.EmployeeCredential.role`)"
            )),
        })
        .collect()
}

fn resolve_common<'a>(v: &'a Value, common: &'a Value) -> &'a Value {
    // A shape may name a common type instead of spelling out a record.
    let name = v.get("name").and_then(Value::as_str);
    match (v.get("type").and_then(Value::as_str), name) {
        (Some("EntityOrCommon" | "CommonType"), Some(n)) => {
            let short = n.rsplit("::").next().unwrap_or(n);
            common.get(short).unwrap_or(v)
        }
        _ => v,
    }
}

fn named(name: &str) -> Option<Ty> {
    match name.rsplit("::").next().unwrap_or(name) {
        "String" => Some(Ty::String),
        "Long" => Some(Ty::Long),
        "Bool" | "Boolean" => Some(Ty::Bool),
        "ipaddr" => Some(Ty::Ip),
        "decimal" => Some(Ty::Decimal),
        _ => None,
    }
}

fn parse_ty(v: &Value, common: &Value) -> Option<Ty> {
    let v = resolve_common(v, common);
    match v.get("type").and_then(Value::as_str)? {
        "String" => Some(Ty::String),
        "Long" => Some(Ty::Long),
        "Boolean" | "Bool" => Some(Ty::Bool),
        "Set" => parse_ty(&v["element"], common).map(|t| Ty::Set(Box::new(t))),
        "Record" => {
            let attrs = v.get("attributes")?.as_object()?;
            Some(Ty::Record(
                attrs
                    .iter()
                    .filter_map(|(k, a)| parse_ty(a, common).map(|t| (k.clone(), t)))
                    .collect(),
            ))
        }
        "Extension" => v.get("name").and_then(Value::as_str).and_then(named),
        "EntityOrCommon" => v.get("name").and_then(Value::as_str).and_then(named),
        _ => None,
    }
}

/// Convert one JSON value to the declared type, or `None` if it doesn't fit.
pub(crate) fn to_cedar(v: &Value, ty: &Ty) -> Option<RestrictedExpression> {
    Some(match (ty, v) {
        (Ty::String, Value::String(s)) => RestrictedExpression::new_string(s.clone()),
        (Ty::Long, Value::Number(n)) => RestrictedExpression::new_long(n.as_i64()?),
        (Ty::Bool, Value::Bool(b)) => RestrictedExpression::new_bool(*b),
        (Ty::Set(inner), Value::Array(items)) => {
            // All elements must fit; a partly-valid set would be misleading.
            let converted: Option<Vec<_>> = items.iter().map(|i| to_cedar(i, inner)).collect();
            RestrictedExpression::new_set(converted?)
        }
        (Ty::Record(fields), Value::Object(o)) => {
            let mut out = Vec::with_capacity(fields.len());
            for (k, t) in fields {
                if let Some(x) = o.get(k) {
                    if let Some(c) = to_cedar(x, t) {
                        out.push((k.clone(), c));
                    }
                }
            }
            RestrictedExpression::new_record(out).ok()?
        }
        (Ty::Ip, Value::String(s)) if s.parse::<std::net::IpAddr>().is_ok() => {
            RestrictedExpression::new_ip(s)
        }
        (Ty::Decimal, Value::Number(n)) => RestrictedExpression::new_decimal(decimal_str(n)?),
        _ => return None,
    })
}

/// A JSON number as a Cedar decimal, exactly or not at all: at most 4
/// fractional digits (Cedar's precision; a claim of 0.99995 is dropped, not
/// rounded up to 1.0000) and within Cedar's range. The number's own text is
/// used, never a float rounding of it.
pub(crate) fn decimal_str(n: &serde_json::Number) -> Option<String> {
    /// Below Cedar's limit (i64::MAX / 10^4 ≈ 9.22e14).
    const MAX_INTEGER_DIGITS: usize = 14;
    let text = n.to_string();
    let unsigned = text.strip_prefix('-').unwrap_or(&text);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let frac = frac.trim_end_matches('0');
    if int.is_empty()
        || int.len() > MAX_INTEGER_DIGITS
        || frac.len() > 4
        || !digits(int)
        || !digits(frac)
    {
        return None;
    }
    let sign = if text.starts_with('-') { "-" } else { "" };
    let frac = if frac.is_empty() { "0" } else { frac };
    Some(format!("{sign}{int}.{frac}"))
}

/// The declared claims of `claims` that fit `fields`, as a Cedar record.
fn claims_of(
    fields: &HashMap<String, Ty>,
    claims: &serde_json::Map<String, Value>,
) -> Option<RestrictedExpression> {
    let out: Vec<(String, RestrictedExpression)> = fields
        .iter()
        .filter_map(|(k, ty)| {
            let v = claims.get(k)?;
            let c = to_cedar(v, ty);
            if c.is_none() {
                tracing::debug!(claim = %k, "claim does not fit its schema type; dropped");
            }
            c.map(|c| (k.clone(), c))
        })
        .collect();
    // Keys are unique (they come from a map), so this cannot fail.
    RestrictedExpression::new_record(out).ok()
}

/// `principal.claims`: per declared credential type the holder presented,
/// that credential's declared claims.
pub(crate) fn claims_record(
    shape: &ClaimShape,
    credentials: &ClaimsByType,
) -> RestrictedExpression {
    let fields: Vec<(String, RestrictedExpression)> = shape
        .iter()
        .filter_map(|(ty, fields)| {
            let c = credentials.get(ty)?;
            claims_of(fields, &c.claims).map(|r| (ty.clone(), r))
        })
        .collect();
    RestrictedExpression::new_record(fields)
        .unwrap_or_else(|_| RestrictedExpression::new_bool(false))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn mismatched_types_are_dropped() {
        assert!(to_cedar(&json!(3), &Ty::String).is_none());
        assert!(to_cedar(&json!("x"), &Ty::Long).is_none());
        assert!(to_cedar(&json!(["a", 1]), &Ty::Set(Box::new(Ty::String))).is_none());
        assert!(to_cedar(&json!(1.5), &Ty::Long).is_none());
        assert!(to_cedar(&json!("not-an-ip"), &Ty::Ip).is_none());
        assert!(to_cedar(&json!(["a", "b"]), &Ty::Set(Box::new(Ty::String))).is_some());
    }

    #[test]
    fn decimals_are_bounded() {
        let n = |v: serde_json::Value| match v {
            serde_json::Value::Number(n) => n,
            _ => unreachable!(),
        };
        assert_eq!(decimal_str(&n(json!(0.5))).unwrap(), "0.5");
        assert_eq!(decimal_str(&n(json!(2))).unwrap(), "2.0");
        assert_eq!(decimal_str(&n(json!(-1.25))).unwrap(), "-1.25");
        assert_eq!(decimal_str(&n(json!(0.1234))).unwrap(), "0.1234");
        // More precision than Cedar keeps: dropped, never rounded.
        assert!(decimal_str(&n(json!(0.99995))).is_none());
        assert!(decimal_str(&n(json!(1e300))).is_none());
        assert!(decimal_str(&n(json!(99_999_999_999_999_u64))).is_some());
        assert!(decimal_str(&n(json!(999_999_999_999_999_u64))).is_none());
        assert!(decimal_str(&n(json!(1.5e-7))).is_none());
    }
}
