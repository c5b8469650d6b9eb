//! Image formats and filesystems: manifests and configs, layer apply and diff,
//! the snapshotter, save/load archives.
