// api/static_files.hpp: serving files from a directory for plain GET/HEAD
// requests: percent-decoding, no escape from the root (".." and symlinks out
// of it are refused), no hidden files (a segment starting with '.', such as
// .git or .env, unless asked for), index.html for directories, content types
// by extension.
#pragma once

#include <duplex/http.hpp>

#include <string>
#include <string_view>

namespace duplex::detail {

/// The Content-Type for a file name ("application/octet-stream" when unknown).
std::string_view content_type_for(std::string_view path) noexcept;

/// Fills `res` for `path` (already split from the query) under `root`.
/// Returns false when no file is there (the caller answers 404).
bool serve_static(const std::string& root, std::string_view path, HttpResponse& res, bool hidden_files = false);

}  // namespace duplex::detail
