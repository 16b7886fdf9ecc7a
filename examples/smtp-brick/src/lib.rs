//! The `smtp` brick: outgoing mail, declared once.

use serde::{Deserialize, Serialize};

/// Outgoing mail relay.
#[derive(Debug, Clone, Serialize, Deserialize, confd::Brick)]
#[brick(name = "smtp", validate = SmtpConfig::check)]
pub struct SmtpConfig {
    /// Relay host name.
    #[brick(default = "localhost", env = "SMTP_HOST")]
    pub host: String,
    /// Relay port.
    #[brick(default = 25, env = ["NEXUS_SMTP_PORT", "SMTP_PORT"])]
    pub port: u16,
    /// Password for the relay.
    #[brick(default = "")]
    pub password: confd::Secret,
    /// Connections kept open.
    #[brick(default = 4, profile(minimal = 1, cloud = 16), reload)]
    pub pool: u32,
    /// Check the relay's certificate.
    #[brick(default = true, env_inverted = "SMTP_INSECURE")]
    pub verify_tls: bool,
    /// TLS client settings.
    pub tls: TlsSettings,
}

/// TLS client settings of the relay connection.
#[derive(Debug, Clone, Serialize, Deserialize, confd::Section)]
pub struct TlsSettings {
    /// The lowest protocol version accepted.
    #[brick(default = "1.2")]
    pub min_version: String,
    /// A client certificate, if the relay asks for one.
    #[brick(default = "")]
    pub client_cert: String,
}

impl SmtpConfig {
    /// A pool needs a port to talk to.
    ///
    /// # Errors
    /// Port 0 with connections kept open.
    pub fn check(&self) -> Result<(), confd::Violation> {
        if self.port == 0 && self.pool > 0 {
            return Err(confd::Violation {
                message: format!("port 0 cannot keep {} connections open", self.pool),
                keys: vec!["port", "pool"],
            });
        }
        Ok(())
    }
}
