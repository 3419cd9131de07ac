#include "file_transfer.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <unistd.h>

#include <cerrno>
#include <vector>

namespace duplex_peer {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
constexpr std::size_t kChunk = 64 * 1024;        // docs/file-transfer.md: at most 65 536 bytes a message
constexpr std::size_t kHighWater = 1024 * 1024;  // queue no more than this on the channel
constexpr std::size_t kLowWater = 256 * 1024;

// A JSON text from the peer, or a discarded value: never an exception.
json parse(std::string_view s) { return json::parse(s.begin(), s.end(), nullptr, false); }
std::string text_field(const json& m, const char* key) {
    auto it = m.find(key);
    return it != m.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

// ------------------------------------------------------------------ Sha256 --

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr); }
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256::update(std::string_view d) { EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), d.data(), d.size()); }
std::string Sha256::hex() {
    unsigned char md[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len);
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < len; ++i) {
        s += digits[md[i] >> 4];
        s += digits[md[i] & 15];
    }
    return s;
}

std::optional<std::string> file_sha256(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return std::nullopt;
    Sha256 h;
    std::vector<char> buf(1 << 16);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        h.update(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
    }
    return h.hex();
}

// -------------------------------------------------------------- FileSender --

bool FileSender::start(duplex::DataChannel channel, const fs::path& path, Done done, std::string& why) {
    std::error_code ec;
    size_ = fs::file_size(path, ec);
    auto digest = file_sha256(path);
    if (ec || !digest) {
        why = "cannot read " + path.string();
        return false;
    }
    sha256_ = *digest;
    name_ = path.filename().string();
    in_ = std::make_shared<std::ifstream>(path, std::ios::binary);
    done_ = std::move(done);
    ch_ = std::move(channel);
    ch_.set_buffered_amount_low_threshold(kLowWater);
    ch_.on_open([this] {
        (void)ch_.send(json({{"type", "file"}, {"name", name_}, {"size", size_}, {"sha256", sha256_}}).dump());
        pump();
    });
    ch_.on_buffered_amount_low([this] { pump(); });
    ch_.on_message([this](std::string_view data, bool binary) {
        if (binary) return;
        const json m = parse(data);
        if (!m.is_object()) return finish(false, "the receiver sent something that is not JSON");
        const std::string type = text_field(m, "type");
        if (type == "file-ok") {
            const std::string got = text_field(m, "sha256");
            if (got == sha256_) finish(true, "");
            else finish(false, "the receiver confirmed a different sha256: " + got);
        } else if (type == "file-error") {
            finish(false, "the receiver refused the file: " + text_field(m, "reason") + " " + text_field(m, "message"));
        }
    });
    ch_.on_close([this] { finish(false, "the file channel closed before the receiver confirmed"); });
    return true;
}

void FileSender::pump() {
    if (finished_ || ch_.ready_state() != duplex::DataChannelState::Open) return;
    std::vector<char> buf(kChunk);
    while (!all_sent_ && ch_.buffered_amount() < kHighWater) {
        in_->read(buf.data(), static_cast<std::streamsize>(kChunk));
        const auto n = static_cast<std::size_t>(in_->gcount());
        if (n > 0) {
            auto r = ch_.send_binary(std::string_view(buf.data(), n));
            if (!r.ok()) return finish(false, "send: " + r.message());
            sent_ += n;
            if (isatty(2))
                std::fprintf(stderr, "\r%llu / %llu bytes (%d%%)", static_cast<unsigned long long>(sent_),
                             static_cast<unsigned long long>(size_), size_ ? static_cast<int>(sent_ * 100 / size_) : 100);
        }
        if (n < kChunk) {
            all_sent_ = true;
            if (isatty(2)) std::fprintf(stderr, "\n");
            (void)ch_.send(json({{"type", "file-end"}}).dump());
        }
    }
}

void FileSender::finish(bool ok, const std::string& why) {
    if (finished_) return;
    finished_ = true;
    if (done_) done_(ok, why);
}

// ------------------------------------------------------------ FileReceiver --

fs::path move_to_unique_name(const fs::path& tmp, const fs::path& dir, const std::string& name) {
    const fs::path base(name);
    const std::string stem = base.stem().string(), ext = base.extension().string();
    for (int n = 0; n < 10000; ++n) {
        const fs::path target = dir / (n == 0 ? name : stem + " (" + std::to_string(n) + ")" + ext);
        // link() fails with EEXIST instead of replacing: no file is ever
        // overwritten, even one that appeared since we looked.
        if (::link(tmp.c_str(), target.c_str()) == 0) {
            std::error_code ec;
            fs::remove(tmp, ec);
            return target;
        }
        if (errno != EEXIST) return {};
    }
    return {};
}

FileReceiver::~FileReceiver() {
    if (!tmp_.empty() && !done_) {
        std::error_code ec;
        out_.close();
        fs::remove(tmp_, ec);
    }
}

void FileReceiver::refuse(duplex::DataChannel& ch, const std::string& reason, const std::string& message) {
    (void)ch.send(json({{"type", "file-error"}, {"reason", reason}, {"message", message}}).dump());
    done_ = true;
    out_.close();
    std::error_code ec;
    if (!tmp_.empty()) fs::remove(tmp_, ec);
    if (failed_) failed_(name_.empty() ? "file refused (" + reason + "): " + message
                                       : "file " + name_ + " refused (" + reason + "): " + message);
}

void FileReceiver::on_message(duplex::DataChannel& ch, std::string_view data, bool binary) {
    if (done_) return;
    if (binary) {
        if (!header_) return refuse(ch, "protocol", "data before the header");
        if (got_ + data.size() > size_) return refuse(ch, "size", "more bytes than announced");
        hash_->update(data);
        out_.write(data.data(), static_cast<std::streamsize>(data.size()));
        got_ += data.size();
        return;
    }
    const json m = parse(data);
    if (!m.is_object()) return refuse(ch, "protocol", "not a JSON object");
    const std::string type = text_field(m, "type");
    if (type == "file" && !header_) {
        auto size = m.find("size");
        if (size == m.end() || !size->is_number_unsigned() || text_field(m, "sha256").size() != 64)
            return refuse(ch, "protocol", "bad header");
        header_ = true;
        size_ = size->get<std::uint64_t>();
        sha256_ = text_field(m, "sha256");
        // The name is a suggestion, never a path (docs/file-transfer.md).
        std::string name = fs::path(text_field(m, "name")).filename().string();
        if (name.empty() || name == "." || name == ".." || name.front() == '.') name = "file";
        name_ = name;
        hash_ = std::make_unique<Sha256>();
        tmp_ = dir_ / ("." + name + "." + std::to_string(::getpid()) + "." + ch.label() + ".part");
        out_.open(tmp_, std::ios::binary | std::ios::trunc);
        if (!out_) return refuse(ch, "too-large", "cannot write into " + dir_.string());
    } else if (type == "file-end" && header_) {
        if (got_ != size_)
            return refuse(ch, "size", "got " + std::to_string(got_) + " of " + std::to_string(size_) + " bytes");
        const std::string got = hash_->hex();
        if (got != sha256_) return refuse(ch, "sha256", "expected " + sha256_ + ", got " + got);
        out_.close();
        const fs::path final_path = move_to_unique_name(tmp_, dir_, name_);
        if (final_path.empty()) return refuse(ch, "too-large", "cannot store " + name_ + " in " + dir_.string());
        done_ = true;
        (void)ch.send(json({{"type", "file-ok"}, {"sha256", got}}).dump());
        if (received_) received_(final_path, size_, got);
    } else {
        return refuse(ch, "protocol", "unexpected message '" + type + "'");
    }
}

void FileReceiver::on_close() {
    if (done_) return;
    done_ = true;
    out_.close();
    std::error_code ec;
    if (!tmp_.empty()) fs::remove(tmp_, ec);
    if (header_ && failed_) failed_("file " + name_ + ": the channel closed midway");
}

}  // namespace duplex_peer
