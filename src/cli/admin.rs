//! `optbox admin`: dashboard users.

use clap::Subcommand;
use optbox::server::config::Settings;
use optbox::server::service::{self, auth::Role};
use optbox::server::startup;
use optbox::server::store::{Audit, Source};
use std::io::Read;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a dashboard user; the password is read from standard input.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["owner", "admin", "viewer"])]
        role: String,
        /// Read the password from standard input (required: passwords never go in argv).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Let a user sign in again from everywhere now, forgetting their failed sign-ins.
    Unlock {
        #[arg(long)]
        email: String,
    },
}

pub async fn run(cmd: AdminCommand, settings: Settings) -> Result<(), String> {
    match cmd {
        AdminCommand::CreateUser { email, role, .. } => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| format!("cannot read the password: {e}"))?;
            let password = password.trim_end_matches(['\r', '\n']);
            let store = startup::open_store(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let role = Role::parse(&role).map_err(|e| e.to_string())?;
            let audit = Audit::new(Source::Cli);
            let user = service::auth::create_user(&*store, &email, role, password, &audit)
                .await
                .map_err(|e| e.to_string())?;
            println!("created {} user {}", user.role, user.email);
            Ok(())
        }
        AdminCommand::Unlock { email } => {
            let store = startup::open_store(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let n = service::auth::unlock(&*store, &email)
                .await
                .map_err(|e| e.to_string())?;
            println!("unlocked {}: {n} failed sign-ins forgotten", email.trim());
            Ok(())
        }
    }
}
