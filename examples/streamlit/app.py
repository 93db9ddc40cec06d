"""Streamlit behind tokenhook.

A Streamlit page talks to Python over one WebSocket. tokenhook authenticates
the page load and the upgrade with its same-origin session cookie (plus an
exact Origin check on the upgrade) and adds the signed X-TokenHook-Session
assertion, which Streamlit exposes in st.context.headers. The tokenhook
package finds it there:

- tokenhook.current_user(): the viewer, verified against tokenhook's keys
  (unlike st.user, it needs no OIDC setup in Streamlit);
- tokenhook.get_user_token("signin") (or a connection's name): the viewer's
  token, to call APIs as the viewer.

Run (see README.md):
    TOKENHOOK_AUDIENCE=http://127.0.0.1:8501 streamlit run examples/streamlit/app.py \
        --server.address 127.0.0.1 --server.port 8501
"""

from __future__ import annotations

import itertools
import os

import streamlit as st

import tokenhook

ISSUER = os.environ.get("OIDC_ISSUER", "")


@st.cache_resource
def answers() -> "itertools.count[int]":
    """Numbers the answers across sessions (a reconnected page may get a
    new session)."""
    return itertools.count(1)


def ask_provider() -> str:
    """Who the provider says the viewer is, asked with the viewer's token."""
    token = tokenhook.get_user_token("signin")
    if not ISSUER:
        return "got your token. Set OIDC_ISSUER to use it."
    return f"the provider says you are {tokenhook.userinfo(token, ISSUER).get('email')}"


st.set_page_config(page_title="tokenhook: Streamlit")
st.title("Streamlit behind tokenhook")

try:
    user = tokenhook.current_user()
    st.markdown(f"Signed in as **{user.email}**")
except tokenhook.TokenHookError as e:
    st.error(f"Not signed in through tokenhook: {e}")
    st.stop()

if st.button("Ask the identity provider who I am"):
    try:
        # This WebSocket's verified assertion expires when the viewer's tokenhook session ends.
        until = tokenhook.current_user().expires
        st.session_state["answer"] = f"Click {next(answers())}: {ask_provider()}. Your session lasts until {until:%Y-%m-%dT%H:%M:%SZ}."
    except tokenhook.TokenHookError as e:
        st.session_state["answer"] = f"tokenhook: {e}"
st.write(st.session_state.get("answer", "Clicks run in Python over the WebSocket."))
