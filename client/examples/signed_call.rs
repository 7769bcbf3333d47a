//! A service calling another through didgate, in a few lines: it signs each
//! request with its own DID key (RFC 9421) and presents nothing else.
//!
//! ```sh
//! didgate did create --method key --out billing.jwk      # once: the service's key
//! cargo run -p didgate-client --example signed_call -- billing.jwk http://127.0.0.1:8080/api/invoices '{"amount":42}'
//! ```
//!
//! With a body the request is a POST, and its `Content-Digest` is signed
//! too; the gateway checks it before the request goes anywhere.

use didgate_client::Signer;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(key_file), Some(url)) = (args.next(), args.next()) else {
        eprintln!("usage: signed_call KEY_FILE URL [BODY]");
        std::process::exit(2);
    };
    let body = args.next();

    // The key file `didgate did create` wrote; its `kid` is the DID URL.
    let signer = Signer::from_key_file(&key_file)?;
    // The workspace's reqwest brings no rustls provider: install one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let mut request = match body {
        Some(body) => client.post(&url).body(body).build()?,
        None => client.get(&url).build()?,
    };
    signer.sign_reqwest(&mut request)?;
    let response = client.execute(request).await?;

    eprintln!("{} (signed as {})", response.status(), signer.keyid());
    println!("{}", response.text().await?);
    Ok(())
}
