# Viewer credentials for R Shiny apps behind tokenhook.
#
# tokenhook's proxy adds a short-lived signed header, X-TokenHook-Session, to
# each request it forwards for a signed-in viewer. get_user_token() trades it
# at tokenhook's exchange endpoint (RFC 8693 token exchange) for the viewer's
# access token of a named connection:
#
#   source("tokenhook_credentials.R")
#   server <- function(input, output, session) {
#     token <- get_user_token(session, "databricks")
#     ...
#   }
#
# Needs the curl and jsonlite packages (Debian: r-cran-curl, r-cran-jsonlite;
# jsonlite comes with shiny). Settings: TOKENHOOK_URL (default
# http://127.0.0.1:4180) and TOKENHOOK_EXCHANGE_SECRET.

get_user_token <- function(session, connection,
                           base_url = Sys.getenv("TOKENHOOK_URL", "http://127.0.0.1:4180"),
                           secret = Sys.getenv("TOKENHOOK_EXCHANGE_SECRET", "")) {
  # Shiny exposes request headers as HTTP_* entries of session$request.
  assertion <- session$request$HTTP_X_TOKENHOOK_SESSION
  if (is.null(assertion) || !nzchar(assertion)) {
    stop("no X-TokenHook-Session header: is the app behind tokenhook?")
  }
  body <- paste0(
    "grant_type=", curl::curl_escape("urn:ietf:params:oauth:grant-type:token-exchange"),
    "&subject_token=", curl::curl_escape(assertion),
    "&subject_token_type=", curl::curl_escape("urn:tokenhook:params:oauth:token-type:session"),
    "&audience=", curl::curl_escape(connection)
  )
  h <- curl::new_handle(postfields = body, timeout = 10)
  headers <- c("Content-Type" = "application/x-www-form-urlencoded", "Accept" = "application/json")
  if (nzchar(secret)) {
    curl::handle_setopt(h, username = "upstream", password = secret)
  }
  curl::handle_setheaders(h, .list = as.list(headers))
  resp <- curl::curl_fetch_memory(paste0(sub("/+$", "", base_url), "/_tokenhook/exchange"), handle = h)
  answer <- jsonlite::fromJSON(rawToChar(resp$content))
  if (resp$status_code != 200) {
    if (identical(answer$error, "invalid_target") && !is.null(answer$connect_url)) {
      stop(sprintf("connect %s first: %s", connection, answer$connect_url))
    }
    stop(sprintf("tokenhook exchange failed: %s %s", answer$error, answer$error_description))
  }
  answer$access_token
}
