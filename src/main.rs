//! The console's entry point: in the browser, mount the Yew app.

#[cfg(target_arch = "wasm32")]
fn main() {
    rowsnap::api::install();
    yew::Renderer::<rowsnap::ui::App>::new().render();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("rowsnap runs in the browser: `make serve`, then open http://127.0.0.1:8080");
}
