//! Every route the code registers, asked by each kind of caller: nobody, a user, another user's
//! ids, an admin. The routes are read from the source (`route(` calls, resources, the API's
//! forwarded endpoints), so a new route is in the matrix the moment it is written.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::path::Path;

use codexapi::db::usage::Endpoint;
use common::{Server, location};
use reqwest::blocking::{Client, Response};

/// A route as the code registers it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    method: String,
    path: String,
}

/// The string literal at the start of `text`, or the value of the `const` it names in `code`.
fn path_argument(text: &str, code: &str) -> Option<String> {
    let text = text.trim_start();
    if let Some(rest) = text.strip_prefix('"') {
        return rest.find('"').map(|end| rest[..end].to_owned());
    }
    let name: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let at = code.find(&format!("const {name}: &str = \""))?;
    let rest = &code[at..];
    let start = rest.find('"')? + 1;
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_owned())
}

/// The HTTP method of the first `web::get()`-like call in `text`.
fn method_in(text: &str) -> Option<String> {
    let at = text.find("web::")?;
    let word: String = text[at + 5..]
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    matches!(word.as_str(), "get" | "post" | "put" | "patch" | "delete")
        .then(|| word.to_uppercase())
}

fn routes_in(code: &str, prefix: &str) -> Vec<Route> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("route(") {
        let rest = &code[at + "route(".len()..];
        let Some(method) = method_in(&rest[..rest.len().min(200)]) else {
            continue;
        };
        let path = if rest.trim_start().starts_with("web::") {
            // `web::resource(PATH)...route(web::post()...)`: the path is the resource's.
            let before = &code[..at];
            let Some(resource) = before.rfind("web::resource(") else {
                continue;
            };
            path_argument(&before[resource + "web::resource(".len()..], code)
        } else {
            path_argument(rest, code)
        };
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            out.push(Route {
                method,
                path: format!("{prefix}{path}"),
            });
        }
    }
    out
}

/// Every route of the program.
fn all_routes() -> Vec<Route> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut routes = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let code = std::fs::read_to_string(&path).unwrap();
                let code = match code.find("#[cfg(test)]\nmod ") {
                    Some(at) => code[..at].to_owned(),
                    None => code,
                };
                let prefix = if path.starts_with(root.join("gateway")) {
                    "/v1"
                } else {
                    ""
                };
                routes.extend(routes_in(&code, prefix));
            }
        }
    }
    // The forwarded API endpoints are registered from the endpoint list.
    for endpoint in Endpoint::ALL {
        if *endpoint != Endpoint::Models {
            routes.push(Route {
                method: "POST".to_owned(),
                path: endpoint.as_str().to_owned(),
            });
        }
    }
    routes.sort();
    routes.dedup();
    routes
}

/// A concrete path for a route pattern: each `{…}` becomes `id`.
fn concrete(path: &str, id: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push_str(id);
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

fn ask(http: &Client, server: &Server, route: &Route, id: &str) -> Response {
    let url = server.url(&concrete(&route.path, id));
    let request = match route.method.as_str() {
        "GET" => http.get(url),
        "POST" => http
            .post(url)
            .header("origin", &server.base)
            .form(&[("name", "x")]),
        other => http.request(other.parse().unwrap(), url),
    };
    request.send().unwrap()
}

#[test]
fn the_route_list_is_read_whole() {
    let routes = all_routes();
    for expected in [
        ("GET", "/dashboard"),
        ("POST", "/dashboard/keys/{id}/revoke"),
        ("GET", "/admin/providers"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models/{id:.+}"),
        ("POST", "/stripe/webhook"),
    ] {
        assert!(
            routes
                .iter()
                .any(|r| r.method == expected.0 && r.path == expected.1),
            "{expected:?} not found in {routes:#?}"
        );
    }
    assert!(routes.len() >= 60, "{} routes: {routes:#?}", routes.len());
}

#[test]
fn every_route_answers_each_kind_of_caller_as_it_should() {
    let server = Server::start("[accounts]\nrequire_verified_email = false\n");
    let _owner_key = common::user_with_key(&server, "owner@example.test");
    let _other_key = common::user_with_key(&server, "other@example.test");
    let owner = common::signed_in(&server, "owner@example.test");
    let admin = common::admin(&server, "admin@example.test");
    let anonymous = common::browser(&server);
    let other_key_id: String = rusqlite::Connection::open(server.db_path())
        .unwrap()
        .query_row(
            "SELECT k.id FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE u.email = 'other@example.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();

    let owner_id: String = rusqlite::Connection::open(server.db_path())
        .unwrap()
        .query_row(
            "SELECT id FROM users WHERE email = 'owner@example.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();

    let mut checked = 0;
    let mut failures = Vec::new();
    for route in all_routes() {
        let admin_only = route.path.starts_with("/admin");
        let dashboard = route.path.starts_with("/dashboard");
        let api = route.path.starts_with("/v1/");
        // An admin page of an account is asked for an account that exists: an admin sees it,
        // everyone else gets the same 404 as for a page that does not exist. Elsewhere, another
        // user's key id where a route takes an id: it must be as unknown as a made-up one.
        let id = if admin_only && route.path.contains("{id}") {
            owner_id.as_str()
        } else if route.path.contains("{id}") {
            other_key_id.as_str()
        } else {
            "nope"
        };
        for (who, http) in [
            ("anonymous", &anonymous),
            ("user", &owner),
            ("admin", &admin),
        ] {
            let res = ask(http, &server, &route, id);
            let status = res.status().as_u16();
            checked += 1;
            let expected_ok = match (who, admin_only, dashboard, api) {
                _ if status >= 500 => false,
                ("anonymous" | "user", true, _, _) => status == 404,
                ("admin", true, _, _) => route.method != "GET" || status == 200,
                ("anonymous", _, true, _) => status == 303 && location(&res).starts_with("/login"),
                // A form posted without the session's CSRF token is refused.
                (_, _, true, _) if route.method == "POST" => matches!(status, 400 | 403),
                ("anonymous", _, _, true) => status == 401,
                _ => true,
            };
            if !expected_ok {
                failures.push(format!("{who} {} {}: {status}", route.method, route.path));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(checked >= 180, "{checked}");

    // The other user's key is untouched by everything the owner tried.
    let revoked: Option<i64> = rusqlite::Connection::open(server.db_path())
        .unwrap()
        .query_row(
            "SELECT revoked_at FROM api_keys WHERE id = ?1",
            [&other_key_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(revoked, None);
}
