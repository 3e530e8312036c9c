// Owning pointers for libcurl handles, each with a stateless deleter that calls the matching
// libcurl cleanup function.
//
// Order matters across types: libcurl requires an easy handle to be removed from its multi handle
// (curl_multi_remove_handle) before either handle is cleaned up, and a curl_slist passed with
// CURLOPT_HTTPHEADER must outlive the easy handle's transfer. Owners declare members so that
// destruction follows these rules and say so where they do.

#ifndef TASK_BASTION_COMMON_CURL_HANDLES_H_
#define TASK_BASTION_COMMON_CURL_HANDLES_H_

#include <memory>

#include <curl/curl.h>

namespace tb {

struct CurlEasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};

struct CurlMultiDeleter {
  // curl_multi_cleanup fails only for an invalid handle, which a unique_ptr never holds.
  void operator()(CURLM* multi) const noexcept { (void)curl_multi_cleanup(multi); }
};

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};

using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

}  // namespace tb

#endif  // TASK_BASTION_COMMON_CURL_HANDLES_H_
