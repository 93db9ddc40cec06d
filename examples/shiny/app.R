# R Shiny behind tokenhook.
#
# A Shiny page talks to R over one WebSocket. tokenhook authenticates the page
# load and the WebSocket upgrade with its same-origin session cookie and adds
# the viewer's identity as request headers; Shiny exposes the upgrade
# request's headers in session$request as HTTP_* variables.
#
# Run (see README.md):
#   Rscript -e 'shiny::runApp("examples/shiny", host = "127.0.0.1", port = 8100)'

library(shiny)

# A forwarded identity header, "" when absent (app opened without tokenhook).
forwarded <- function(session, name) {
  value <- session$request[[name]]
  if (is.null(value)) "" else value
}

ui <- fluidPage(
  titlePanel("Shiny behind tokenhook"),
  p("Signed in as ", strong(textOutput("email", inline = TRUE))),
  p("Username: ", textOutput("username", inline = TRUE)),
  p("Groups: ", textOutput("groups", inline = TRUE))
)

server <- function(input, output, session) {
  email <- forwarded(session, "HTTP_X_FORWARDED_EMAIL")
  output$email <- renderText(if (nzchar(email)) email else "nobody (open this app through tokenhook)")
  output$username <- renderText(forwarded(session, "HTTP_X_FORWARDED_PREFERRED_USERNAME"))
  output$groups <- renderText(forwarded(session, "HTTP_X_FORWARDED_GROUPS"))
}

shinyApp(ui, server)
