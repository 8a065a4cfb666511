// Package webtest drives xaso's web pages in headless Chromium: the
// clerk's desk, the citizen's look-up and the province dashboard, on a
// province running in the test's own process. Run it with `make web-test`
// (XASO_WEB=1); it saves a screenshot of every page it visits, and
// prints the desk's forms to PDF, checking each is one A4 page.
package webtest
