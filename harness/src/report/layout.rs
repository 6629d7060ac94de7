//! The HTML document around every page the suite writes (a target's report,
//! the site): doctype, a phone-width viewport, the title as heading, the
//! page's own inline style and script. Nothing is fetched at view time.

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// A whole page: `body` under an `h1` of `title`; `style` and `script` are
/// the suite's own constants, never text from a report.
pub fn document(title: &str, style: &'static str, body: Markup, script: &'static str) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(style)) }
            }
            body {
                h1 { (title) }
                (body)
                script { (PreEscaped(script)) }
            }
        }
    };
    page.into_string() + "\n"
}
