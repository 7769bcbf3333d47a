//! A command's exit status other than 0 or 1: the command has printed what
//! it found, and `main` exits with this code without printing more.

/// Exit with this code (the message is already printed).
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}
