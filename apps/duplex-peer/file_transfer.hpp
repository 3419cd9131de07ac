// duplex-peer/file_transfer.hpp: one file over one data channel, as
// docs/file-transfer.md says: a JSON header, 64 KiB binary chunks paced by
// the channel's buffered amount, file-end, and the receiver's SHA-256 back.
#pragma once

#include <duplex/data_channel.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace duplex_peer {

/// SHA-256, fed piece by piece (the file-transfer protocol hashes streams).
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(std::string_view d);
    std::string hex();

private:
    void* ctx_;
};

std::optional<std::string> file_sha256(const std::filesystem::path& p);

/// Sends one file on a channel it is given (labelled file-*), and reports
/// once: done(true, "") when the receiver confirmed the digest, else
/// done(false, why).
class FileSender {
public:
    using Done = std::function<void(bool ok, const std::string& why)>;
    /// Fails (returns false, with why) when the file cannot be read.
    bool start(duplex::DataChannel channel, const std::filesystem::path& path, Done done, std::string& why);
    std::uint64_t size() const noexcept { return size_; }
    const std::string& sha256() const noexcept { return sha256_; }

private:
    void pump();
    void finish(bool ok, const std::string& why);

    duplex::DataChannel ch_;
    std::shared_ptr<std::ifstream> in_;
    std::string name_, sha256_;
    std::uint64_t size_ = 0, sent_ = 0;
    bool all_sent_ = false, finished_ = false;
    Done done_;
};

/// Receives one file on a channel labelled file-*, into a directory: under
/// a `.name.part` name while it arrives, then under its own name, or under
/// "name (1).ext", "name (2).ext", ... when a file of that name is there
/// already (never overwritten).
class FileReceiver {
public:
    /// received(final path, size, sha256) or failed(why).
    using Received = std::function<void(const std::filesystem::path&, std::uint64_t, const std::string&)>;
    using Failed = std::function<void(const std::string& why)>;
    FileReceiver(std::filesystem::path dir, Received received, Failed failed)
        : dir_(std::move(dir)), received_(std::move(received)), failed_(std::move(failed)) {}
    ~FileReceiver();
    void on_message(duplex::DataChannel& ch, std::string_view data, bool binary);
    /// The channel closed: a transfer not finished is abandoned.
    void on_close();

private:
    void refuse(duplex::DataChannel& ch, const std::string& reason, const std::string& message);

    std::filesystem::path dir_;
    Received received_;
    Failed failed_;
    std::string name_, sha256_;
    std::uint64_t size_ = 0, got_ = 0;
    std::unique_ptr<Sha256> hash_;
    std::ofstream out_;
    std::filesystem::path tmp_;
    bool header_ = false, done_ = false;
};

/// `dir/name`, or the first of `dir/stem (1)ext`, `dir/stem (2)ext`, ...
/// that does not exist; `tmp` is moved there without ever replacing a file
/// (a link, which fails if the name is taken meanwhile). Empty on failure.
std::filesystem::path move_to_unique_name(const std::filesystem::path& tmp, const std::filesystem::path& dir,
                                          const std::string& name);

}  // namespace duplex_peer
