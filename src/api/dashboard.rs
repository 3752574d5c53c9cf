//! The live dashboard page (`dashboards/web/`), built into the binary so the service needs no
//! files at run time and the page no network: `/` and its assets under `/assets/`.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::ApiState;

/// `(path, content type, body)` of every file the page needs.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../../dashboards/web/index.html"),
    ),
    (
        "/assets/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../dashboards/web/app.js"),
    ),
    (
        "/assets/settings.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../dashboards/web/settings.js"),
    ),
    (
        "/assets/reports.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../dashboards/web/reports.js"),
    ),
    (
        "/assets/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../dashboards/web/app.css"),
    ),
    (
        "/assets/vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../dashboards/web/vendor/uPlot.iife.min.js"),
    ),
    (
        "/assets/vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../dashboards/web/vendor/uPlot.min.css"),
    ),
];

/// The paths of the page's files.
pub fn paths() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|&(path, _, _)| path)
}

/// The page's routes. The page itself holds no data: it asks the API with the user's token.
pub fn routes() -> Router<ApiState> {
    FILES
        .iter()
        .fold(Router::new(), |router, &(path, content_type, body)| {
            router.route(
                path,
                get(move || async move {
                    (
                        [
                            (header::CONTENT_TYPE, content_type),
                            (header::CACHE_CONTROL, "no-cache"),
                            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                        ],
                        body,
                    )
                        .into_response()
                }),
            )
        })
}
