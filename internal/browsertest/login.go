package browsertest

import "github.com/chromedp/chromedp"

// SubmitLogin fills in the provider's login form shown in the tab (Dex's:
// fields login and password) with email and password, submits it and waits
// for the page the submission leads to. It is the one browser sign-in the
// tests share; idptest.Login is the same over plain HTTP.
func (t *Tab) SubmitLogin(email, password string) error {
	_, err := chromedp.RunResponse(t.Context(), loginForm(email, password)...)
	return err
}

// SendLogin is SubmitLogin without waiting for the next page: for a popup
// that the page the submission leads to closes.
func (t *Tab) SendLogin(email, password string) error {
	return chromedp.Do(t.Context(), loginForm(email, password)...)
}

// loginForm fills in and submits the provider's login form.
func loginForm(email, password string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Submit(chromedp.CSS(`input[name="password"]`)),
	}
}
