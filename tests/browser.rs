//! Browser tests in a page (headless Chromium, real IndexedDB).
#![cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[path = "browser/cases.rs"]
mod cases;
