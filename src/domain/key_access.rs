//! A key's credentials as the config resolved them.

use crate::secret::SecretString;

/// A key's credentials, resolved from the config. `Debug` never shows the secrets.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub api_key: SecretString,
    pub api_secret: SecretString,
    pub passphrase: Option<SecretString>,
}
