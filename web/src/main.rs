//! The kvscope page's entry point: renders [`kvscope_web::App`] into the page.

fn main() {
    kvscope_web::start();
}
