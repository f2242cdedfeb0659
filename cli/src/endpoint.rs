//! Where the relay is: from the link's own origin, or from `--relay`, and the app origin a new room's link names.
//!
//! A link carries the room in its fragment and names no relay (so that passing a link on cannot point its readers
//! at a relay of someone else's choosing); the origin it was shared under is where the app, and by default the
//! relay, live. `--relay` overrides it.

use anyhow::{Context as _, bail};

/// The relay a new room is created on when `--relay` is not given: the relay's own default listen address.
pub(crate) const DEFAULT_RELAY: &str = "ws://127.0.0.1:8080/ws";

/// A URL split into the parts this client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts<'a> {
    secure: bool,
    authority: &'a str,
    path: &'a str,
}

fn split(url: &str) -> anyhow::Result<Parts<'_>> {
    let url = url.trim();
    let (scheme, rest) = url
        .split_once("://")
        .context("the address needs a scheme, such as https://")?;
    let secure = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => true,
        "http" | "ws" => false,
        other => bail!("the address's scheme must be https, http, wss or ws, not {other}"),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_');
    if authority.is_empty() || !authority.chars().all(valid) {
        bail!("the address has no valid host");
    }
    let after = &rest[end..];
    let path_end = after.find(['?', '#']).unwrap_or(after.len());
    Ok(Parts {
        secure,
        authority,
        path: &after[..path_end],
    })
}

/// The WebSocket URL for a relay given as `ws(s)://` or `http(s)://`, with `/ws` when no path is given.
pub(crate) fn relay_url(given: &str) -> anyhow::Result<String> {
    let parts = split(given)?;
    let scheme = if parts.secure { "wss" } else { "ws" };
    let path = if parts.path.is_empty() || parts.path == "/" {
        "/ws"
    } else {
        parts.path
    };
    Ok(format!("{scheme}://{}{path}", parts.authority))
}

/// The relay for joining through `link`: `--relay` when given, otherwise the link's own origin.
pub(crate) fn relay_for_link(link: &str, relay: Option<&str>) -> anyhow::Result<String> {
    if let Some(relay) = relay {
        return relay_url(relay);
    }
    let Some((origin, _)) = link.trim().split_once('#') else {
        bail!("the link has no room in it (the part after #)");
    };
    if origin.is_empty() {
        bail!("this link holds only the room, not the address it was shared under; give the relay with --relay URL");
    }
    let parts = split(origin)?;
    relay_url(&format!(
        "{}://{}",
        if parts.secure { "wss" } else { "ws" },
        parts.authority
    ))
}

/// The app's origin for a room created on the relay at `relay` (`wss://host/ws` gives `https://host`).
pub(crate) fn app_origin(relay: &str) -> anyhow::Result<String> {
    let parts = split(relay)?;
    Ok(format!(
        "{}://{}",
        if parts.secure { "https" } else { "http" },
        parts.authority
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_origin_names_the_relay() {
        assert_eq!(
            relay_for_link("https://chat.example.org/#v1.a.b.1", None).unwrap(),
            "wss://chat.example.org/ws"
        );
        assert_eq!(
            relay_for_link("http://127.0.0.1:8080/#v1.a.b.1", None).unwrap(),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(
            relay_for_link("https://h/app/#v1", Some("wss://r.example/socket")).unwrap(),
            "wss://r.example/socket"
        );
        assert!(relay_for_link("#v1.a.b.1", None).is_err());
        assert!(relay_for_link("v1.a.b.1", None).is_err());
        assert!(relay_for_link("ftp://h/#v1", None).is_err());
        assert!(relay_for_link("https://user@h/#v1", None).is_err());
    }

    #[test]
    fn relay_and_app_addresses_convert() {
        assert_eq!(relay_url("https://h.example").unwrap(), "wss://h.example/ws");
        assert_eq!(relay_url("ws://[::1]:9000/").unwrap(), "ws://[::1]:9000/ws");
        assert_eq!(app_origin("wss://h.example/ws").unwrap(), "https://h.example");
        assert_eq!(app_origin(DEFAULT_RELAY).unwrap(), "http://127.0.0.1:8080");
    }
}
