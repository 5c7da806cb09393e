//! The HMACs the simulated exchanges check signatures with: SHA-256 in the two encodings most of
//! them use, SHA-512 in hex for Gate. The simulator's own: it never borrows the client's signing
//! code, so a client bug in what it signs cannot be accepted by a simulator that shares it.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};

fn hmac_sha256(secret: &str, message: &[u8]) -> impl AsRef<[u8]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes()
}

/// HMAC-SHA256 of `message` under `secret`, lowercase hex.
pub fn hmac_hex(secret: &str, message: &[u8]) -> String {
    hex::encode(hmac_sha256(secret, message))
}

/// HMAC-SHA256 of `message` under `secret`, standard base64 with padding.
pub fn hmac_base64(secret: &str, message: &[u8]) -> String {
    BASE64.encode(hmac_sha256(secret, message))
}

/// HMAC-SHA512 of `message` under `secret`, lowercase hex.
pub fn hmac_sha512_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(hmac_hex("Jefe", b"what do ya want for nothing?"), expected);
        assert_eq!(
            hmac_base64("Jefe", b"what do ya want for nothing?"),
            BASE64.encode(hex::decode(expected).unwrap())
        );
        assert_eq!(
            hmac_sha512_hex("Jefe", b"what do ya want for nothing?"),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
             9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }
}
