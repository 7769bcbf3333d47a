//! Credential claims → Cedar values, typed by the user's schema.
//!
//! The schema declares `Holder.claims` (e.g. `role?: String, groups?: Set<String>`).
//! Claims the schema does not declare are dropped; a claim whose JSON type
//! doesn't fit its declaration is dropped too. Both fail closed: a policy
//! that tests `principal.claims has role` sees it as absent.

use std::collections::HashMap;

use cedar_policy::RestrictedExpression;
use serde_json::Value;

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

/// The declared shape of `Holder.claims`.
pub(crate) type ClaimShape = HashMap<String, Ty>;

/// Find `Holder.claims` in the JSON form of the schema (`namespace Didgate`).
pub(crate) fn claim_shape(schema_json: &Value) -> ClaimShape {
    let ns = &schema_json["Didgate"];
    let common = &ns["commonTypes"];
    let holder = &ns["entityTypes"]["Holder"]["shape"];
    let holder = resolve_common(holder, common);
    match parse_ty(&holder["attributes"]["claims"], common) {
        Some(Ty::Record(fields)) => fields,
        _ => HashMap::new(),
    }
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
        (Ty::Decimal, Value::Number(n)) => {
            RestrictedExpression::new_decimal(decimal_str(n.as_f64()?)?)
        }
        _ => return None,
    })
}

/// Cedar decimals have at most 4 fractional digits and fit an i64 scaled by 10^4.
pub(crate) fn decimal_str(f: f64) -> Option<String> {
    if !f.is_finite() || f.abs() > 900_000_000_000_000.0 {
        return None;
    }
    Some(format!("{f:.4}"))
}

/// All declared claims that fit, as a Cedar record.
pub(crate) fn claims_record(
    shape: &ClaimShape,
    claims: &serde_json::Map<String, Value>,
) -> RestrictedExpression {
    let fields: Vec<(String, RestrictedExpression)> = shape
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
        assert_eq!(decimal_str(0.5).unwrap(), "0.5000");
        assert!(decimal_str(f64::NAN).is_none());
        assert!(decimal_str(1e300).is_none());
    }
}
