//! `@query-param` values: the query parsed as `application/x-www-form-urlencoded`
//! and each name and value re-encoded (RFC 9421 §2.2.8, WHATWG URL §5).

/// The re-encoded values of every parameter whose re-encoded name is
/// `encoded_name`, in query order.
pub(crate) fn values(query: &str, encoded_name: &str) -> Vec<String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode(name) == encoded_name).then(|| reencode(value))
        })
        .collect()
}

/// Form-decodes (`+` is a space, `%XX` a byte, UTF-8 with replacement),
/// then percent-encodes every byte but ASCII alphanumerics and `*-._`, as
/// "percent-encode after encoding" with the form set and no `+` for space.
fn reencode(raw: &str) -> String {
    let decoded = decode(raw.as_bytes());
    let decoded = String::from_utf8_lossy(&decoded);
    let mut out = String::with_capacity(decoded.len());
    for b in decoded.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

fn decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let escaped = match (b, raw.get(i + 1), raw.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (escaped, b) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 9421 §2.2.8 examples.
    #[test]
    fn values_are_form_decoded_and_reencoded() {
        let q = "var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace\
                 &fa%C3%A7ade%22%3A%20=something";
        assert_eq!(
            values(q, "var"),
            ["this%20is%20a%20big%0Amultiline%20value"]
        );
        assert_eq!(values(q, "bar"), ["with%20plus%20whitespace"]);
        assert_eq!(values(q, "fa%C3%A7ade%22%3A%20"), ["something"]);
    }

    #[test]
    fn empty_missing_and_repeated_parameters() {
        let q = "param=value&foo=bar&baz=batman&qux=&dup=1&&dup=2&flag";
        assert_eq!(values(q, "baz"), ["batman"]);
        assert_eq!(values(q, "qux"), [""]);
        assert_eq!(values(q, "flag"), [""]);
        assert!(values(q, "nope").is_empty());
        assert_eq!(values(q, "dup"), ["1", "2"]);
    }

    #[test]
    fn unreserved_survive_and_the_rest_is_encoded() {
        assert_eq!(reencode("bat%2Dman"), "bat-man");
        assert_eq!(reencode("a~b!c*d"), "a%7Eb%21c*d");
        assert_eq!(reencode("%zz%4"), "%25zz%254");
        assert_eq!(reencode("%FF"), "%EF%BF%BD");
    }
}
