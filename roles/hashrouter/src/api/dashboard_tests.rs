//! The dashboard's page and assets over real HTTP on 127.0.0.1: what the browser is told about
//! them, and that they load nothing from another host.

use super::tests::{empty_snapshot, serve};

/// `(path, content type)` of the page and every asset.
const PAGES: [(&str, &str); 3] = [
    ("/", "text/html; charset=utf-8"),
    ("/assets/app.js", "text/javascript; charset=utf-8"),
    ("/assets/style.css", "text/css; charset=utf-8"),
];

async fn get(base: &str, path: &str) -> reqwest::Response {
    reqwest::get(format!("{base}{path}")).await.unwrap()
}

#[tokio::test]
async fn the_page_references_its_assets() {
    let base = serve(empty_snapshot(), None).await;
    let page = get(&base, "/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains(r#"<script src="/assets/app.js""#), "{html}");
    assert!(html.contains(r#"href="/assets/style.css""#), "{html}");
    // Every local reference the page makes is served.
    for reference in html
        .split(['"', '\''])
        .filter(|s| s.starts_with('/') && !s.starts_with("//"))
    {
        let answer = get(&base, reference).await;
        assert_eq!(answer.status(), 200, "{reference}");
    }
}

#[tokio::test]
async fn assets_have_their_content_types_and_the_csp() {
    let base = serve(empty_snapshot(), None).await;
    for (path, content_type) in PAGES {
        let answer = get(&base, path).await;
        assert_eq!(answer.status(), 200, "{path}");
        let headers = answer.headers();
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(headers["content-security-policy"], "default-src 'self'");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(!answer.text().await.unwrap().is_empty(), "{path}");
    }
    // The browser's unprompted favicon request gets an empty answer, not a 404.
    assert_eq!(get(&base, "/favicon.ico").await.status(), 204);
    let missing = get(&base, "/assets/nope.js").await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn no_asset_loads_anything_from_another_host() {
    let base = serve(empty_snapshot(), None).await;
    for (path, _) in PAGES {
        let body = get(&base, path).await.text().await.unwrap().to_lowercase();
        for scheme in [
            "http://",
            "https://",
            "src=\"//",
            "href=\"//",
            "url(//",
            "@import",
        ] {
            assert!(!body.contains(scheme), "{path} contains `{scheme}`");
        }
    }
}

#[tokio::test]
async fn the_script_never_writes_markup() {
    // Worker names and user agents are chosen by devices: the page must put them in as text.
    let base = serve(empty_snapshot(), None).await;
    let script = get(&base, "/assets/app.js").await.text().await.unwrap();
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!script.contains(sink), "app.js uses {sink}");
    }
}
