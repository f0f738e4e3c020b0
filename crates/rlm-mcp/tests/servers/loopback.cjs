// Preloaded (`node --require`) by the tests: makes a server that is given a
// port but no host listen on 127.0.0.1 only, not on every interface. The
// everything server's HTTP mode takes its port from `PORT` and has no host
// setting.
"use strict";
const net = require("node:net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const port = args[0];
  const isPort = typeof port === "number" || (typeof port === "string" && /^\d+$/.test(port));
  if (isPort && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
