// The account page: a new token's key is selected whole when focused, ready to copy
// (a listener here, not an inline onfocus, which the Content-Security-Policy refuses).
document.getElementById("new-token-key")?.addEventListener("focus", (event) => event.target.select());
