# The toolchain of the release bundle (sourced by install.sh and build.sh).
#
# The release wasm is built with a pinned nightly so that the standard library
# is rebuilt for it (-Zbuild-std, at the profile's opt-level "z") with the
# immediate-abort panic strategy: no panic messages, formatting or unwinding
# machinery in the bundle. Measured side by side on the same source
# (2026-11-30): 631,723 bytes gzip with stable, 577,234 with this (-8.6%).
# Everything else (native tests, clippy, the wasm tests, `make serve`) uses
# stable. Without this toolchain the release falls back to stable.
RELEASE_TOOLCHAIN=nightly-2026-05-20
