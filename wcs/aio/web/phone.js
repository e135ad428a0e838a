// wcs web phone — a small, dependency-free client of the gateway's WebSocket protocol (the one the
// Flashphoner WebSDK 2.0 speaks; see docs in the repository: websdk-protocol.md §1-§3 and §7), and
// the page around it.
//
// Part 1, `Client`, knows no DOM: it opens the WebSocket, sends `connection`, answers `ping`, keeps
// the auth token, and runs each call's RTCPeerConnection. Like the SDK it sends its SDP at once,
// without candidates and without trickle ICE: the gateway learns our address from ICE checks.
// Part 2 binds the client to index.html, and shows the WebRTC statistics once a second.
// `window.wcsPhone` = {client, ui} is there for the browser console (and the tests).
"use strict";

(function () {
  // ================================================================ part 1: the protocol client
  const TERMINAL = new Set(["FINISH", "FAILED", "BUSY"]);
  const STATUS_FRAMES = new Set(["notifyTryingResponse", "ring", "talk", "hold", "finish"]);

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();   // secure contexts only
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  class Call {
    constructor(fields) {
      this.id = fields.id;
      this.incoming = !!fields.incoming;
      this.caller = fields.caller || "";
      this.callee = fields.callee || "";
      this.visibleName = fields.visibleName || "";
      this.hasVideo = !!fields.hasVideo;
      this.status = fields.status || "NEW";
      this.sipStatus = null;       // from the server's status frames (the SDK drops these three)
      this.sipMessage = null;
      this.info = null;
      this.transfer = null;        // last notifyTransferEvent status
      this.pc = null;
      this.localStream = null;
      this.remoteStream = new MediaStream();
      this.remoteSdp = null;       // incoming: the gateway's offer
      this.answering = false;
      this.sent = false;           // our `call` / `answer` frame has gone out
      this.ended = false;
      this.muted = false;
      this.established = null;     // Date.now() when it first became ESTABLISHED
    }
    get peer() { return this.incoming ? this.caller : this.callee; }
  }

  class Client {
    constructor() {
      this.ws = null;
      this.status = "DISCONNECTED";   // CONNECTING CONNECTED ESTABLISHED REGISTERED DISCONNECTED FAILED
      this.url = null;
      this.keepAlive = false;
      this.authToken = null;
      this.userData = null;           // getUserData payload (sipLogin …)
      this.calls = new Map();         // callId -> live Call
      this.pendingSdp = new Map();    // callId -> offer that came before notifyIncomingCall
      this.handlers = {};
    }

    on(name, fn) { (this.handlers[name] = this.handlers[name] || []).push(fn); return this; }

    emit(name, ...args) {
      for (const fn of this.handlers[name] || []) {
        try { fn(...args); } catch (e) { console.error(e); }
      }
    }

    // calls are allowed once registered, or when established if the session asked for no registration
    get ready() {
      const register = this.userData && String(this.userData.sipRegisterRequired) === "true";
      return this.status === "REGISTERED" || (this.status === "ESTABLISHED" && !register);
    }

    // ------------------------------------------------------------ session
    // sip: {login, authName, password, domain, proxy, port, register}; with authToken (and no sip)
    // the gateway re-attaches us to the session it kept alive (§1.6).
    connect(url, sip, {keepAlive = false, authToken = null} = {}) {
      this.close();
      if (!authToken) {
        // a new session: calls of the previous one can no longer be controlled from here
        for (const call of [...this.calls.values()]) this._endLocally(call, "FAILED", "Session replaced");
        this.pendingSdp.clear();
      }
      this.url = url;
      this.keepAlive = keepAlive || !!authToken;
      const payload = {
        appKey: "defaultApp", mediaProviders: ["WebRTC"], keepAlive: this.keepAlive,
        clientVersion: "2.0", clientOSVersion: navigator.appVersion, clientBrowserVersion: navigator.userAgent,
      };
      if (authToken) payload.authToken = authToken;
      if (sip) {
        Object.assign(payload, {
          sipLogin: sip.login, sipAuthenticationName: sip.authName || sip.login, sipPassword: sip.password,
          sipDomain: sip.domain, sipOutboundProxy: sip.proxy || "", sipPort: String(sip.port || ""),
          sipRegisterRequired: !!sip.register,
        });
      }
      let ws;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        this._setStatus("FAILED", e.message);
        return;
      }
      this.ws = ws;
      let opened = false;
      this._setStatus("CONNECTING", url);
      ws.onopen = () => {
        opened = true;
        this._setStatus("CONNECTED");
        this._send("connection", payload);
      };
      ws.onmessage = (e) => { if (this.ws === ws) this._receive(e.data); };
      ws.onclose = (e) => {
        if (this.ws !== ws) return;
        this.ws = null;
        const why = opened ? `closed (${e.code}${e.reason ? " " + e.reason : ""})` : `cannot connect to ${url}`;
        this._setStatus(opened ? "DISCONNECTED" : "FAILED", why);
        if (!this.keepAlive) {
          // the gateway ends the calls of a session that is not kept alive
          for (const call of [...this.calls.values()]) this._endLocally(call, "FAILED", "Connection lost");
        }
      };
    }

    reconnect() {
      if (!this.authToken || !this.url) throw new Error("no auth token yet");
      this.connect(this.url, null, {keepAlive: true, authToken: this.authToken});
    }

    close() {
      const ws = this.ws;
      if (!ws) return;
      this.ws = null;
      ws.close(1000);
      this._setStatus("DISCONNECTED", "closed by you");
      if (!this.keepAlive) {
        for (const call of [...this.calls.values()]) this._endLocally(call, "FINISH", "Disconnected");
      }
    }

    _setStatus(status, detail) {
      this.status = status;
      this.emit("session", status, detail || "");
    }

    _send(message, payload) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
      const frame = {message, data: [payload === undefined ? null : payload]};
      this.ws.send(JSON.stringify(frame));
      if (message !== "pong") this.emit("frame", "out", frame);
      return true;
    }

    _receive(text) {
      let frame;
      try {
        frame = JSON.parse(text);
      } catch (e) {
        this.emit("frame", "in", {message: "(not JSON)", data: [String(text).slice(0, 200)]});
        return;
      }
      const name = frame.message;
      const data = Array.isArray(frame.data) ? frame.data : [];
      const obj = data[0] || {};
      if (name !== "ping") this.emit("frame", "in", frame);
      if (name === "ping") {
        this._send("pong", null);
      } else if (name === "getUserData") {
        this.userData = obj;
        if (obj.authToken) this.authToken = obj.authToken;
        const register = String(obj.sipRegisterRequired) === "true";
        this._setStatus("ESTABLISHED", register ? `registering ${obj.sipLogin || ""}…` : "");
      } else if (name === "registered") {
        this._setStatus("REGISTERED");
      } else if (name === "fail") {
        // a warning: neither the session nor a call fails because of it (§1.4)
        this.emit("warn", obj.info || obj.status || "failure", obj);
      } else if (name === "setRemoteSDP") {
        this._remoteSdp(String(data[0]), data[1]);
      } else if (name === "notifyIncomingCall") {
        this._incoming(obj);
      } else if (name === "notifyTransferEvent") {
        const call = this.calls.get(obj.callId);
        if (call) {
          call.transfer = obj.status;
          this.emit("call", call);
        }
      } else if (STATUS_FRAMES.has(name)) {
        this._status(obj);
      }
    }

    _status(obj) {
      const call = this.calls.get(obj.callId);
      if (!call) return;                             // unknown or already finished: ignore (§2.3)
      if (obj.sipStatus !== undefined) call.sipStatus = obj.sipStatus;
      if (obj.sipMessage !== undefined) call.sipMessage = obj.sipMessage;
      if (obj.info !== undefined) call.info = obj.info;
      if (obj.status) call.status = obj.status;
      if (call.status === "ESTABLISHED" && !call.established) call.established = Date.now();
      if (TERMINAL.has(call.status)) this._release(call);
      this.emit("call", call);
    }

    _remoteSdp(id, sdp) {
      const call = this.calls.get(id);
      if (!call || !call.pc) {
        this.pendingSdp.set(id, sdp);                // the offer of an incoming call comes first (§2.4)
        return;
      }
      if (call.pc.signalingState !== "have-local-offer") return;   // no renegotiation (§2.9)
      call.pc.setRemoteDescription({type: "answer", sdp})
        .catch((e) => this._fail(call, "Remote SDP refused: " + e.message));
    }

    _incoming(obj) {
      if (!obj.callId || this.calls.has(obj.callId)) return;
      const call = new Call({...obj, id: obj.callId, incoming: true, status: obj.status || "RING"});
      call.remoteSdp = this.pendingSdp.get(call.id) || null;
      this.pendingSdp.delete(call.id);
      this.calls.set(call.id, call);
      this.emit("incoming", call);
      this.emit("call", call);
    }

    // ------------------------------------------------------------ calls
    // returns the new Call at once; media, offer and the `call` frame follow
    call(callee, {video = false, visibleName = ""} = {}) {
      if (!this.ready) throw new Error("not connected");
      const login = (this.userData && this.userData.sipLogin) || "";
      const call = new Call({id: uuid(), callee, caller: login, visibleName: visibleName || login,
                             hasVideo: video, status: "PENDING"});
      this.calls.set(call.id, call);
      this.emit("call", call);
      this._place(call, login).catch((e) => this._fail(call, "Local error: " + e.message));
      return call;
    }

    async _place(call, login) {
      await this._media(call, call.hasVideo);
      const offer = await call.pc.createOffer();
      await call.pc.setLocalDescription(offer);
      if (call.ended) return;
      call.sent = this._send("call", {
        callId: call.id, incoming: false, hasAudio: call.localStream.getAudioTracks().length > 0,
        hasVideo: call.hasVideo, status: "PENDING", mediaProvider: "WebRTC", sdp: offer.sdp,
        caller: login, callee: call.callee, visibleName: call.visibleName,
      });
      if (!call.sent) this._fail(call, "Not connected");
    }

    async answer(call, {video = false} = {}) {
      if (!call || !call.incoming || call.ended || call.answering) return;
      call.answering = true;
      if (!call.remoteSdp) {
        this._send("hangup", {callId: call.id});
        this._fail(call, "No offer from the server");
        return;
      }
      call.status = "PENDING";
      this.emit("call", call);
      try {
        await this._media(call, video && call.hasVideo);
        await call.pc.setRemoteDescription({type: "offer", sdp: call.remoteSdp});
        const answer = await call.pc.createAnswer();
        await call.pc.setLocalDescription(answer);
        if (call.ended) return;
        const login = (this.userData && this.userData.sipLogin) || call.callee;
        call.sent = this._send("answer", {
          callId: call.id, incoming: true, hasAudio: call.localStream.getAudioTracks().length > 0,
          hasVideo: call.localStream.getVideoTracks().length > 0, status: "PENDING",
          mediaProvider: "WebRTC", sdp: answer.sdp, callee: login, caller: call.caller,
        });
        if (!call.sent) this._fail(call, "Not connected");
      } catch (e) {
        this._send("hangup", {callId: call.id});
        this._fail(call, "Local error: " + e.message);
      }
    }

    async _media(call, video) {
      const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: !!video});
      call.localStream = stream;
      if (call.ended) throw new Error("call ended");
      const pc = new RTCPeerConnection({iceServers: [], bundlePolicy: "max-compat"});
      call.pc = pc;
      for (const track of stream.getTracks()) pc.addTrack(track, stream);
      pc.ontrack = (e) => {
        // a new stream object each time, so that media elements pick the new track up
        call.remoteStream = new MediaStream([...call.remoteStream.getTracks(), e.track]);
        this.emit("media", call);
      };
      pc.onconnectionstatechange = () => this.emit("call", call);
      this.emit("media", call);
    }

    hangup(call) {
      if (!call || call.ended) return;
      // before our `call` frame left there is nothing on the server to hang up
      const known = call.incoming || call.sent;
      if (!known || !this._send("hangup", {callId: call.id})) {
        this._endLocally(call, "FINISH", known ? "Not connected" : "Cancelled");
      }
    }

    hold(call) { return !!call && this._send("hold", {callId: call.id}); }
    unhold(call) { return !!call && this._send("unhold", {callId: call.id}); }
    sendDtmf(call, dtmf, type = "RFC2833") { return !!call && this._send("sendDtmf", {callId: call.id, type, dtmf}); }
    transfer(call, target) { return !!call && this._send("transfer", {callId: call.id, target}); }

    mute(call, muted) {
      if (!call || !call.localStream) return;
      call.muted = muted;
      for (const track of call.localStream.getAudioTracks()) track.enabled = !muted;
      this.emit("call", call);
    }

    _fail(call, info) { this._endLocally(call, "FAILED", info); }

    _endLocally(call, status, info) {
      if (call.ended) return;
      call.status = status;
      call.info = info;
      this._release(call);
      this.emit("call", call);
    }

    _release(call) {
      call.ended = true;
      this.calls.delete(call.id);
      if (call.pc) call.pc.close();
      if (call.localStream) for (const track of call.localStream.getTracks()) track.stop();
    }
  }

  // ================================================================ part 2: the page
  const $ = (id) => document.getElementById(id);
  const client = new Client();
  const ui = {call: null, incoming: null, stats: null, warning: ""};
  window.wcsPhone = {client, ui, Client};
  const FIELDS = ["url", "login", "authName", "domain", "proxy", "port", "register", "keepAlive", "callee"];
  const STORE = "wcs-phone";

  function log(text) {
    const list = $("log");
    const item = document.createElement("li");
    item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
    list.prepend(item);
    while (list.children.length > 200) list.lastChild.remove();
  }

  function setPill(el, state) {
    el.textContent = state;
    el.dataset.state = state;
  }

  function defaultUrl() {
    const secure = location.protocol === "https:";
    return `${secure ? "wss" : "ws"}://${location.hostname || "127.0.0.1"}:${secure ? 8443 : 8080}/`;
  }

  function loadForm() {
    let saved = {};
    try { saved = JSON.parse(localStorage.getItem(STORE) || "{}"); } catch (e) { /* none */ }
    for (const name of FIELDS) {
      const el = $(name);
      if (!(name in saved)) continue;
      if (el.type === "checkbox") el.checked = !!saved[name]; else el.value = saved[name];
    }
    if (!$("url").value) $("url").value = defaultUrl();
    if (!$("domain").value) $("domain").value = location.hostname || "";
  }

  function saveForm() {
    const saved = {};
    for (const name of FIELDS) {
      const el = $(name);
      saved[name] = el.type === "checkbox" ? el.checked : el.value;
    }
    try { localStorage.setItem(STORE, JSON.stringify(saved)); } catch (e) { /* private mode */ }
  }

  function render() {
    const ready = client.ready;
    const open = !!client.ws;
    $("connect").disabled = open;
    $("disconnect").disabled = !open;
    $("reconnect").disabled = open || !client.authToken;
    $("authToken").textContent = client.authToken || "";
    const call = ui.call;
    const live = !!call && !call.ended;
    const talking = live && (call.status === "ESTABLISHED" || call.status === "HOLD");
    $("call").disabled = !ready || (live && !talking);
    $("hangup").disabled = !live;
    $("hold").disabled = !talking || !ready;
    $("hold").textContent = live && call.status === "HOLD" ? "Resume" : "Hold";
    $("mute").disabled = !live || !call.localStream;
    $("mute").setAttribute("aria-pressed", String(live && call.muted));   // a toggle: the label stays
    $("keypad").disabled = !talking || !ready;
    $("transfer").disabled = !talking || !ready;
    const ringing = ui.incoming && !ui.incoming.ended && !ui.incoming.answering;
    const incoming = ringing ? ui.incoming : null;
    $("incoming").hidden = !incoming;
    if (incoming) {
      const name = incoming.visibleName && incoming.visibleName !== incoming.caller ? ` (${incoming.visibleName})` : "";
      $("incomingText").textContent = `Incoming call from ${incoming.caller}${name}`;
    }
    if (!call) return;
    const name = call.incoming && call.visibleName && call.visibleName !== call.caller ? ` (${call.visibleName})` : "";
    $("callPeer").textContent = `${call.incoming ? "from" : "to"} ${call.peer}${name}`;
    setPill($("callStatus"), call.status);
    $("callSip").textContent = call.sipStatus ? `${call.sipStatus} ${call.sipMessage || ""}`.trim() : "";
    const extra = [call.info, call.transfer && `transfer ${call.transfer}`,
                   call.pc && !call.ended && `media ${call.pc.connectionState}`];
    $("callInfo").textContent = extra.filter(Boolean).join("; ");
  }

  function showMedia(call) {
    if (call !== ui.call) return;
    const audio = $("remoteAudio"), video = $("remoteVideo"), local = $("localVideo");
    const stream = call && !call.ended ? call.remoteStream : null;
    if (audio.srcObject !== stream) audio.srcObject = stream;
    const remoteVideo = !!stream && stream.getVideoTracks().length > 0;
    video.hidden = !remoteVideo;
    if (video.srcObject !== (remoteVideo ? stream : null)) video.srcObject = remoteVideo ? stream : null;
    const localStream = call && !call.ended && call.localStream;
    const localVideo = !!localStream && localStream.getVideoTracks().length > 0;
    local.hidden = !localVideo;
    if (local.srcObject !== (localVideo ? localStream : null)) local.srcObject = localVideo ? localStream : null;
  }

  function tick() {
    const call = ui.call;
    $("callTime").textContent = call && call.established && !call.ended
      ? new Date(Date.now() - call.established).toISOString().slice(11, 19) : "";
    if (call && call.pc && !call.ended) {
      const pc = call.pc;
      pc.getStats().then((report) => {
        if (ui.call === call && !call.ended) showStats(call, summarize(report));
      }).catch(() => {});
    }
  }

  // ------------------------------------------------------------ statistics
  function summarize(report) {
    const s = {at: Date.now(), inbound: null, outbound: null, remoteInbound: null, source: null,
               video: {in: null, out: null}, pair: null, transport: null, codecs: {}};
    report.forEach((r) => {
      if (r.type === "codec") s.codecs[r.id] = `${r.mimeType.split("/")[1]}/${r.clockRate}`;
    });
    report.forEach((r) => {
      const codec = s.codecs[r.codecId] || "";
      if (r.type === "inbound-rtp" && r.kind === "audio") {
        s.inbound = {codec, packets: r.packetsReceived, bytes: r.bytesReceived, lost: r.packetsLost,
                     jitter: r.jitter, level: r.audioLevel};
      } else if (r.type === "outbound-rtp" && r.kind === "audio") {
        s.outbound = {codec, packets: r.packetsSent, bytes: r.bytesSent};
      } else if (r.type === "remote-inbound-rtp" && r.kind === "audio") {
        s.remoteInbound = {lost: r.packetsLost, jitter: r.jitter, rtt: r.roundTripTime};
      } else if (r.type === "media-source" && r.kind === "audio") {
        s.source = {level: r.audioLevel};
      } else if (r.type === "inbound-rtp" && r.kind === "video") {
        s.video.in = {codec, width: r.frameWidth, height: r.frameHeight, fps: r.framesPerSecond,
                      packets: r.packetsReceived};
      } else if (r.type === "outbound-rtp" && r.kind === "video") {
        s.video.out = {codec, width: r.frameWidth, height: r.frameHeight, fps: r.framesPerSecond,
                       packets: r.packetsSent};
      } else if (r.type === "transport" && r.selectedCandidatePairId) {
        const pair = report.get(r.selectedCandidatePairId);
        const local = pair && report.get(pair.localCandidateId);
        const remote = pair && report.get(pair.remoteCandidateId);
        s.transport = {dtls: r.dtlsState, cipher: r.srtpCipher};
        if (pair) {
          s.pair = {rtt: pair.currentRoundTripTime,
                    local: local ? `${local.address}:${local.port}` : "",
                    remote: remote ? `${remote.address}:${remote.port}` : ""};
        }
      }
    });
    return s;
  }

  const fmt = {
    n: (v) => (v === undefined || v === null ? "–" : Number(v).toLocaleString("en")),
    ms: (v) => (v === undefined || v === null ? "–" : `${(v * 1000).toFixed(1)} ms`),
    level: (v) => (v === undefined || v === null ? "–" : Number(v).toFixed(3)),
    video: (v) => (v ? `${v.codec} ${v.width || "?"}×${v.height || "?"} ${v.fps ? v.fps.toFixed(0) + " fps" : ""}` : "–"),
  };

  function showStats(call, s) {
    ui.stats = s;
    const set = (key, text) => { document.querySelector(`[data-stat="${key}"]`).textContent = text; };
    const i = s.inbound || {}, o = s.outbound || {}, ri = s.remoteInbound || {};
    set("in-codec", i.codec || "–");
    set("out-codec", o.codec || "–");
    set("in-packets", fmt.n(i.packets));
    set("out-packets", fmt.n(o.packets));
    set("in-bytes", fmt.n(i.bytes));
    set("out-bytes", fmt.n(o.bytes));
    set("in-lost", fmt.n(i.lost));
    set("out-lost", fmt.n(ri.lost));
    set("in-jitter", fmt.ms(i.jitter));
    set("out-jitter", fmt.ms(ri.jitter));
    set("in-level", fmt.level(i.level));
    set("out-level", call.muted ? "muted" : fmt.level((s.source || {}).level));
    set("in-video", fmt.video(s.video.in));
    set("out-video", fmt.video(s.video.out));
    const rtt = s.pair && s.pair.rtt !== undefined ? s.pair.rtt : ri.rtt;
    set("rtt", fmt.ms(rtt));
    set("transport", s.pair ? `${s.pair.local} ⇄ ${s.pair.remote}, DTLS ${(s.transport || {}).dtls || "?"}`
                            : (s.transport ? `DTLS ${s.transport.dtls}` : "–"));
    $("statsCaption").textContent = `Call ${call.id}, updated ${new Date(s.at).toLocaleTimeString()}`;
  }

  function clearStats() {
    for (const cell of document.querySelectorAll("[data-stat]")) cell.textContent = "";
  }

  // ------------------------------------------------------------ client events
  // the message line keeps the server's last `fail` reason until the next connect
  function showSessionInfo(detail) {
    $("sessionInfo").textContent = [ui.warning, detail].filter(Boolean).join(" — ");
  }
  client.on("session", (status, detail) => {
    setPill($("sessionStatus"), status);
    if (status === "CONNECTING") ui.warning = "";
    showSessionInfo(status === "CONNECTING" ? "" : detail);
    log(`session ${status}${detail ? ": " + detail : ""}`);
    render();
  });
  client.on("warn", (info) => {
    ui.warning = info;
    showSessionInfo("");
    log(`server: ${info}`);
  });
  client.on("frame", (dir, frame) => {
    if (frame.message === "setRemoteSDP") log(`${dir === "in" ? "←" : "→"} setRemoteSDP ${frame.data[0]}`);
  });
  client.on("incoming", (call) => {
    ui.incoming = call;
    if (!ui.call || ui.call.ended) selectCall(call);
    log(`incoming call from ${call.caller} (${call.id})`);
  });
  client.on("call", (call) => {
    const key = `${call.status}|${call.sipStatus}|${call.info}|${call.transfer}`;
    if (call.lastLogged !== key) {
      call.lastLogged = key;
      const sip = call.sipStatus ? ` SIP ${call.sipStatus} ${call.sipMessage || ""}` : "";
      log(`call ${call.peer} ${call.status}${sip}${call.info ? " — " + call.info : ""}` +
          `${call.transfer ? " (transfer " + call.transfer + ")" : ""}`);
    }
    if (call.ended && ui.call === call) {
      showMedia(call);
      // show the next live call (a ringing one stays in its banner until answered)
      const next = [...client.calls.values()].find((c) => !c.incoming || c.answering);
      if (next) selectCall(next);
    }
    render();
  });
  client.on("media", (call) => showMedia(call));

  function selectCall(call) {
    ui.call = call;
    clearStats();
    $("statsCaption").textContent = `Call ${call.id}`;
    showMedia(call);
    render();
  }

  // ------------------------------------------------------------ user actions
  $("account").addEventListener("submit", (e) => {
    e.preventDefault();
    saveForm();
    client.connect($("url").value.trim(), {
      login: $("login").value.trim(), authName: $("authName").value.trim(), password: $("password").value,
      domain: $("domain").value.trim(), proxy: $("proxy").value.trim(), port: $("port").value.trim(),
      register: $("register").checked,
    }, {keepAlive: $("keepAlive").checked});
  });
  $("disconnect").addEventListener("click", () => client.close());
  $("reconnect").addEventListener("click", () => client.reconnect());

  $("dial").addEventListener("submit", (e) => {
    e.preventDefault();
    const callee = $("callee").value.trim();
    if (!callee) return;
    saveForm();
    try {
      selectCall(client.call(callee, {video: $("video").checked}));
    } catch (err) {
      log(`cannot call: ${err.message}`);
    }
  });
  $("answer").addEventListener("click", () => {
    const call = ui.incoming;
    if (!call) return;
    selectCall(call);
    client.answer(call, {video: $("video").checked});
  });
  $("decline").addEventListener("click", () => client.hangup(ui.incoming));
  $("hangup").addEventListener("click", () => client.hangup(ui.call));
  $("hold").addEventListener("click", () => {
    const call = ui.call;
    if (call.status === "HOLD") client.unhold(call); else client.hold(call);
  });
  $("mute").addEventListener("click", () => client.mute(ui.call, !ui.call.muted));
  $("keypad").addEventListener("click", (e) => {
    const key = e.target.closest("[data-key]");
    if (!key || !ui.call) return;
    client.sendDtmf(ui.call, key.dataset.key, $("dtmfType").value);
    log(`DTMF ${key.dataset.key} (${$("dtmfType").value})`);
  });
  $("transferForm").addEventListener("submit", (e) => {
    e.preventDefault();
    const target = $("target").value.trim();
    if (target && ui.call) {
      client.transfer(ui.call, target);
      log(`transfer to ${target} requested`);
    }
  });

  loadForm();
  $("insecure").hidden = window.isSecureContext && !!navigator.mediaDevices;
  render();
  setInterval(tick, 1000);
})();
