package httpapi

import (
	"embed"

	"github.com/gin-gonic/gin"
)

// dashboardAssets are the files of the sales dashboard: plain HTML, CSS and
// JavaScript, with no third-party code and no build step.
//
//go:embed dashboard/index.html dashboard/app.css dashboard/app.js
var dashboardAssets embed.FS

// dashboardPolicy is the dashboard's Content-Security-Policy: the page may
// load and fetch from the service's own origin only.
const dashboardPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var (
	dashboardPage = mustDocFile(dashboardAssets, "dashboard/index.html", contentTypeHTML, cacheRevalidate)
	dashboardCSS  = mustDocFile(dashboardAssets, "dashboard/app.css", contentTypeCSS, cacheRevalidate)
	dashboardJS   = mustDocFile(dashboardAssets, "dashboard/app.js", contentTypeJS, cacheRevalidate)
)

// registerDashboard mounts GET /dashboard, the live sales page, and its two
// assets. They are open to everyone: the page asks for an analyst key itself
// when the data it reads needs one.
func registerDashboard(r gin.IRoutes) {
	r.GET("/dashboard", withDashboardPolicy(serveDocFile(dashboardPage)))
	r.GET("/dashboard/app.css", withDashboardPolicy(serveDocFile(dashboardCSS)))
	r.GET("/dashboard/app.js", withDashboardPolicy(serveDocFile(dashboardJS)))
}

func withDashboardPolicy(next gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Content-Security-Policy", dashboardPolicy)
		next(c)
	}
}
