#include "proto/http/response_writer.hpp"

namespace duplex::proto::http {

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 426: return "Upgrade Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default: return "";
    }
}

std::string write_response_head(int status, const HeaderList& headers) {
    std::string out;
    out.reserve(128 + headers.size() * 32);
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += reason_phrase(status);
    out += "\r\n";
    for (const auto& [name, value] : headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

std::string write_simple_response(int status, const HeaderList& extra, std::string_view body,
                                  bool close_connection) {
    HeaderList headers = extra;
    headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
    headers.emplace_back("Content-Length", std::to_string(body.size()));
    if (close_connection) headers.emplace_back("Connection", "close");
    std::string out = write_response_head(status, headers);
    out += body;
    return out;
}

}  // namespace duplex::proto::http
