// A real browser logs in to a didgate gateway with a wallet (OpenID4VP 1.0,
// direct_post): headless Chromium (Debian's, driven by playwright-core) opens
// a protected page, is sent to the login page, and `didgate wallet login`
// (a separate process, as a phone's wallet would be) answers the request
// shown there.
//
//   node browser-login.mjs BASE_URL DIDGATE_BIN HOLDER_KEY CREDENTIAL
//
// Cross-device: the page polls and finishes the login by itself; the app
// sees the holder; the cookies are checked; a logout from the page ends the
// session. Same-device: the browser follows the wallet's redirect_uri.
// Prints one JSON line of what was observed; exits non-zero on any failure,
// with what went wrong on stderr. The browser is always closed.
// With DIDGATE_SCREENSHOTS=DIR, the login page and the app's page are saved
// there as PNG files (to look at what a person sees).
import { chromium } from 'playwright-core';
import { execFile } from 'node:child_process';

const [base, didgate, holderKey, credential] = process.argv.slice(2);
if (!base || !didgate || !holderKey || !credential) {
  console.error('usage: node browser-login.mjs BASE_URL DIDGATE_BIN HOLDER_KEY CREDENTIAL');
  process.exit(2);
}
const CHROMIUM = '/usr/bin/chromium';
const STEP_MS = 20_000;
const PROTECTED = `${base}/eng/docs`;
const LOGIN_PAGE = `${base}/.didgate/login?return_to=%2Feng%2Fdocs`;
const SCREENSHOTS = process.env.DIDGATE_SCREENSHOTS;

async function screenshot(page, name) {
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

class Failure extends Error {}
function check(cond, what) {
  if (!cond) throw new Failure(what);
}

/// `didgate wallet login` for the request; its stdout (the redirect_uri).
function wallet(request) {
  return new Promise((resolve, reject) => {
    execFile(
      didgate,
      ['wallet', 'login', '--holder-key', holderKey, '--vc', credential, request],
      { timeout: STEP_MS, env: { ...process.env, DIDGATE_LOG: 'warn' } },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Failure(`didgate wallet login failed (${err.code ?? err.signal}): ${stderr.trim()}`));
        } else {
          resolve(stdout.trim());
        }
      },
    );
  });
}

/// The payload of a compact JWS, unverified (the sample app shows the
/// assertion it received; the Rust test holds the gateway's keys).
function jwtPayload(token) {
  check(typeof token === 'string' && token.split('.').length === 3, `not a JWT: ${token}`);
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

/// The main frame's navigations (url and status), as they happen.
function recordNavigations(page) {
  const navs = [];
  page.on('response', (r) => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) {
      navs.push({ url: r.url(), status: r.status() });
    }
  });
  return navs;
}

/// Open the protected page in `page`: it must end on the login page, which
/// shows the QR code and the request. Returns the request and what was seen.
async function loginPage(page, navs) {
  const resp = await page.goto(PROTECTED, { waitUntil: 'load', timeout: STEP_MS });
  check(resp, `no response for ${PROTECTED}`);
  check(page.url() === LOGIN_PAGE, `${PROTECTED} did not lead to the login page: ${page.url()}`);
  check(resp.status() === 200, `the login page answered ${resp.status()}`);
  const redirected = resp.request().redirectedFrom();
  const first = redirected ? await redirected.response() : null;
  const request = ((await page.locator('#request-url').textContent({ timeout: STEP_MS })) ?? '').trim();
  check(request.startsWith('openid4vp://?'), `no wallet request on the login page: ${request}`);
  const qrShown = (await page.locator('.qr svg').count()) === 1 && (await page.locator('.qr svg').isVisible());
  check(qrShown, 'the login page shows no QR code (.qr svg)');
  return {
    request,
    seen: {
      redirect_status: first ? first.status() : null,
      login_url: page.url(),
      login_status: resp.status(),
      qr: qrShown,
      navigations: navs.slice(),
    },
  };
}

/// What the sample app received, as its page shows it to the browser: the
/// request it got, as JSON in the page's <pre>.
async function appSaw(page, resp) {
  check(resp, 'no response from the app');
  const type = (await resp.headerValue('content-type')) ?? '';
  const text = type.startsWith('text/html')
    ? ((await page.locator('pre').first().textContent({ timeout: STEP_MS })) ?? '')
    : await resp.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Failure(`the app's page shows no JSON (${resp.status()}, ${type}): ${text.slice(0, 500)}`);
  }
  const assertion = body?.headers?.['x-didgate-assertion'];
  check(assertion, `the app received no x-didgate-assertion: ${text.slice(0, 500)}`);
  const payload = jwtPayload(assertion);
  return {
    final_url: resp.url(),
    final_status: resp.status(),
    app_heading: (await page.locator('h1').first().textContent().catch(() => null)) ?? null,
    subject: payload.sub,
    auth_method: payload.auth_method,
    assertion_issuer: payload.iss,
    app_saw_cookie: body?.headers?.cookie ?? null,
  };
}

function cookieFlags(c) {
  return c ? { name: c.name, http_only: c.httpOnly, same_site: c.sameSite, secure: c.secure, path: c.path } : null;
}

const isApp = (r) => r.url() === PROTECTED && r.request().isNavigationRequest();

async function crossDevice(browser) {
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    const navs = recordNavigations(page);
    const { request, seen } = await loginPage(page, navs);
    await screenshot(page, 'login-page');
    // The phone's wallet answers; the page, polling every second, finishes
    // the login by itself and goes back to /eng/docs.
    const arrived = page.waitForResponse(isApp, { timeout: STEP_MS });
    arrived.catch(() => {}); // awaited below; a wallet failure must not leave it unhandled
    const redirectUri = await wallet(request);
    const landed = await arrived;
    await page.waitForURL(PROTECTED, { timeout: STEP_MS, waitUntil: 'load' });
    const app = await appSaw(page, landed);
    await screenshot(page, 'app-page');
    check(app.final_status === 200, `/eng/docs answered ${app.final_status} after the login`);
    const complete = navs.find((n) => n.url.startsWith(`${base}/.didgate/login/complete?state=`));
    check(complete, `the page did not finish the login itself: ${JSON.stringify(navs)}`);

    const cookies = await ctx.cookies(base);
    const session = cookies.find((c) => c.name === 'didgate_session');
    const login = cookies.find((c) => c.name === 'didgate_login');
    check(session, `no didgate_session cookie: ${JSON.stringify(cookies.map((c) => c.name))}`);

    // The wallet's own redirect, followed late in another tab of this
    // browser after the poll finished the login: it goes on to the app.
    const tab = await ctx.newPage();
    const late = await tab.goto(redirectUri, { timeout: STEP_MS }).catch((e) => ({ status: () => `error: ${e.message}`, url: () => null }));
    const lateRedirect = { status: late.status(), url: late.url() };
    await tab.close();

    // Log out from the page, then the protected page needs a login again.
    const logout = await page.evaluate(async () => {
      const r = await fetch('/.didgate/logout', { method: 'POST', credentials: 'same-origin' });
      return { status: r.status, body: await r.json() };
    });
    check(logout.status === 200, `the logout answered ${logout.status}: ${JSON.stringify(logout.body)}`);
    const afterCookies = await ctx.cookies(base);
    const again = await page.goto(PROTECTED, { waitUntil: 'load', timeout: STEP_MS });
    const afterUrl = page.url();
    const loggedOut = afterUrl === LOGIN_PAGE && (await page.locator('#request-url').count()) === 1;
    check(loggedOut, `after the logout ${PROTECTED} did not lead to the login page: ${afterUrl}`);
    return {
      ...seen,
      wallet_redirect_uri: redirectUri,
      complete_url: complete.url,
      complete_status: complete.status,
      ...app,
      navigations: navs,
      session_cookie: cookieFlags(session),
      login_cookie: cookieFlags(login),
      late_wallet_redirect: lateRedirect,
      logout_status: logout.status,
      logout_body: logout.body,
      session_cookie_after_logout: afterCookies.some((c) => c.name === 'didgate_session'),
      after_logout_url: afterUrl,
      after_logout_status: again ? again.status() : null,
      logged_out: loggedOut,
    };
  } finally {
    await ctx.close();
  }
}

async function sameDevice(browser) {
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    const navs = recordNavigations(page);
    const { request, seen } = await loginPage(page, navs);
    // The wallet takes over on this device: the login tab stops polling
    // (closed, so that it cannot finish the login first), and the wallet
    // sends this browser to its redirect_uri.
    await page.close();
    const redirectUri = await wallet(request);
    check(redirectUri.startsWith(`${base}/.didgate/login/complete?response_code=`), `the wallet printed no redirect_uri: ${redirectUri}`);
    const tab = await ctx.newPage();
    const tabNavs = recordNavigations(tab);
    const resp = await tab.goto(redirectUri, { waitUntil: 'load', timeout: STEP_MS });
    check(tab.url() === PROTECTED, `the wallet's redirect_uri led to ${tab.url()}, not ${PROTECTED}: ${JSON.stringify(tabNavs)}`);
    const app = await appSaw(tab, resp);
    check(app.final_status === 200, `/eng/docs answered ${app.final_status} after the login`);
    const cookies = await ctx.cookies(base);
    return {
      login_url: seen.login_url,
      qr: seen.qr,
      redirect_uri: redirectUri,
      navigations: tabNavs,
      ...app,
      session_cookie: cookieFlags(cookies.find((c) => c.name === 'didgate_session')),
    };
  } finally {
    await ctx.close();
  }
}

let browser;
let exitCode = 0;
const watchdog = setTimeout(() => {
  console.error('browser-login: gave up after 120 s');
  process.exit(1);
}, 120_000);
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const started = Date.now();
  const cross = await crossDevice(browser);
  const same = await sameDevice(browser);
  process.stdout.write(
    JSON.stringify({ browser: browser.version(), cross_device: cross, same_device: same, ms: Date.now() - started }) + '\n',
  );
} catch (e) {
  exitCode = 1;
  console.error(`browser-login: ${e instanceof Failure ? e.message : e?.stack ?? e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(exitCode);
