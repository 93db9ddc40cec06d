// Generated from src/tokenhook.ts by npm run dts (tsc --declaration): do not edit.
/**
 * What went wrong:
 * - "login_required": the viewer is not signed in (the token endpoint said so);
 * - "connection_required": the viewer has not linked the connection named in
 *   connection (connectUrl is the route that links it);
 * - "http": tokenhook answered with an unexpected HTTP status (status);
 * - "network": no usable answer: the request failed, or a part the script
 *   needs could not be had (a lazy chunk, the page's own token function,
 *   WebCrypto); the message says which.
 */
export type TokenHookErrorCode = "login_required" | "connection_required" | "http" | "network";
/**
 * TokenHookError is what TokenHook.on("error", fn) hands to fn. The class is
 * window.TokenHook.TokenHookError, so `e instanceof TokenHook.TokenHookError`
 * works.
 */
export declare class TokenHookError extends Error {
    /** What went wrong (see TokenHookErrorCode). */
    code: TokenHookErrorCode;
    /** The HTTP status of the answer, when there was one. */
    status?: number;
    /** The connection whose token was asked for (absent for the sign-in token). */
    connection?: string;
    /** connection_required: the route that links the connection (TokenHook.connect opens it). */
    connectUrl?: string;
    constructor(code: TokenHookErrorCode, message: string, status?: number, connection?: string, connectUrl?: string);
}
/** What a custom token function returns (expires_at in unix seconds). */
export type TokenHookTokenResult = string | null | {
    access_token: string;
    expires_at?: number;
};
/** Configuration set before the script loads: window.TokenHookConfig. A key set here wins over the script tag's data attribute. */
export interface TokenHookConfig {
    /** Methods whose requests get the token: "POST,PUT", ["POST"], or "*" for all. Default "POST". */
    methods?: string | string[];
    /** Path globs to decorate ("*" within a segment, "**" across). Default: every path. */
    include?: string | string[];
    /** Path globs never decorated. */
    exclude?: string | string[];
    /** Extra exact origins ("https://api.example.com"), besides the page's own. */
    origins?: string | string[];
    /** Header name. Default "Authorization". */
    header?: string;
    /** Scheme before the token; "" sends the bare token. Default "Bearer". */
    scheme?: string;
    /** "server" (default), "localStorage:KEY", "sessionStorage:KEY" or "cookie:NAME". */
    source?: string;
    /** Replace a header value the app set itself. Default false. */
    overwrite?: boolean | string;
    /** Where tokenhook's routes are mounted. Default "/_tokenhook/". */
    base?: string;
    /** Custom token source (wins over source). rejected: the token a backend just refused. expires_at is in unix seconds. */
    token?: (rejected?: string) => Promise<TokenHookTokenResult> | TokenHookTokenResult;
    /** Called instead of the sign-in handling (login redirect, or the prompt in frames and gated pages) when the viewer must sign in. */
    onLoginRequired?: () => void;
    /** Hide the page until a token is available; while signed out, requests wait for the sign-in (held, then sent). Default false. */
    gate?: boolean | string;
    /** Reload the page once a popup sign-in was collected. Default false. */
    reload?: boolean | string;
    /** Heading of the sign-in prompt. Default "Sign in to continue". */
    signinText?: string;
    /** Label of the prompt's button. Default "Sign in". */
    signinButton?: string;
    /** Extra class on the prompt's host element (class "tokenhook-signin"). */
    signinClass?: string;
    /** CSS appended inside the prompt's shadow root. */
    signinStyle?: string;
    /** window.open features of the sign-in popup. Default "popup,width=520,height=680". */
    popupFeatures?: string;
    /**
     * Connection rules: exact origin -> connection name, e.g. {"https://api.data.example": "data"}
     * (data attribute: "https://api.data.example=data https://sql.example:8443=warehouse").
     * Requests to such an origin (matched exactly, after new URL(o).origin) get that
     * connection's token from GET <base>token?connection=NAME, never the sign-in token;
     * methods/include/exclude apply as for every request.
     */
    connections?: string | {
        [origin: string]: string;
    };
}
/** Plotly Dash renderer hooks: new DashRenderer(TokenHook.dash()). Every key is defined (the renderer checks !== null). */
export interface TokenHookDashHooks {
    request_pre: (payload: unknown) => void;
    request_post: (payload: unknown, response: unknown) => void;
    /** Resolves to the current token (null if none could be had). */
    request_refresh_jwt: (old: string | null) => Promise<string | null>;
}
/** The API the script installs as window.TokenHook (frozen). */
export interface TokenHookAPI {
    /** The current token (fetched or refreshed if needed), or null (always null with --browser-token none); when the viewer must sign in, sign-in starts as it would for a request. */
    getToken(): Promise<string | null>;
    /** Starts sign-in: emits "loginrequired", then navigates a top-level page to the login route, or shows the sign-in prompt (popup) inside a frame or on a gated page that had a token. */
    signIn(): void;
    /** Ends the server session, emits "signedout", then a top-level page follows the provider's logout URL if any. */
    signOut(): Promise<void>;
    /** Subscribes to an event; returns the unsubscribe function. "token": a new token (null with --browser-token none). */
    on(event: "token", fn: (token: string | null) => void): () => void;
    /** A failure the script could not handle itself (the request concerned went without the header). */
    on(event: "error", fn: (err: TokenHookError) => void): () => void;
    /** "signedin": a popup sign-in was collected (the frame now has its session). */
    on(event: "signedout" | "loginrequired" | "signedin", fn: () => void): () => void;
    /** A request to a connection origin found the connection not linked (the request went without the header). */
    on(event: "connectionrequired", fn: (arg: {
        name: string;
        connectUrl: string;
    }) => void): () => void;
    /** TokenHook.connect(name) linked the connection. */
    on(event: "connected", fn: (arg: {
        name: string;
    }) => void): () => void;
    /** Dash renderer hooks; also decorates Dash's own endpoints for every method. */
    dash(): TokenHookDashHooks;
    /**
     * Links a connection in a popup (call it from a click handler): opens <base>connect/NAME?popup=1&rd=…,
     * and once the viewer closed the popup fetches the connection's token; resolves true (and emits
     * "connected") when the connection is linked. With the popup blocked, the page goes to the connect route.
     */
    connect(name: string): Promise<boolean>;
    /** The class of every error the script reports: `e instanceof TokenHook.TokenHookError`. */
    TokenHookError: typeof TokenHookError;
}
declare global {
    interface Window {
        TokenHook: TokenHookAPI;
        TokenHookConfig?: TokenHookConfig;
    }
    /** Installed by the script. */
    var TokenHook: TokenHookAPI;
    /** Set by the page before the script loads (optional). */
    var TokenHookConfig: TokenHookConfig | undefined;
}
