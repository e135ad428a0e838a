// wcs interop test phone: a tiny driver API on window.wcs around the unmodified Flashphoner WebSDK.
//
// Loaded before /flashphoner.js. It first wraps window.WebSocket (every frame, both directions, in
// wcs.frames) and window.RTCPeerConnection (every peer connection in wcs.pcs), then offers:
//   wcs.connect({url, login, authName, password, domain, outboundProxy, port, registerRequired,
//                keepAlive})                        -> Flashphoner.init + createSession
//   wcs.call(callee, {video:false})               -> callId of the new outgoing call
//   wcs.answer(), wcs.hangup(), wcs.sendDTMF(d, type), wcs.hold(), wcs.unhold(), wcs.transfer(t),
//   wcs.disconnect()
//   wcs.stats()                                   -> inbound/outbound RTP stats of the live PC
//   wcs.remoteAudioPeak(ms, expectHz)             -> FFT of the remote audio track (WebAudio)
// Everything that happens is appended to wcs.events ({kind, status, t, ...}); t = performance.now().
"use strict";

(function () {
  const now = () => performance.now();
  const wcs = {
    frames: [],        // {dir: "in"|"out", text, t}
    sockets: [],       // {url, opened, closed: {code, reason, wasClean, t} | null}
    pcs: [],           // every RTCPeerConnection created
    events: [],        // {kind: "session"|"call"|"local"|"error", status, t, ...}
    errors: [],        // exceptions caught in this page
    session: null,
    calls: {},         // callId -> Call
    currentCall: null,
  };
  window.wcs = wcs;

  function record(ev) {
    ev.t = now();
    wcs.events.push(ev);
    const log = document.getElementById("log");
    if (log) log.textContent += JSON.stringify(ev) + "\n";
    return ev;
  }

  function recordError(where, e) {
    const text = String((e && e.stack) || e);
    wcs.errors.push({where, text, t: now()});
    record({kind: "error", status: where, info: text});
  }

  // --- WebSocket: record every frame in both directions ------------------------------------------
  const NativeWebSocket = window.WebSocket;
  class RecordingWebSocket extends NativeWebSocket {
    constructor(url, protocols) {
      if (protocols === undefined) super(url); else super(url, protocols);
      const info = {url: String(url), opened: null, closed: null};
      wcs.sockets.push(info);
      // registered before the SDK sets onmessage, so frames are recorded before it handles them
      this.addEventListener("open", () => { info.opened = now(); });
      this.addEventListener("message", (e) => {
        const text = typeof e.data === "string" ? e.data : "[binary " + (e.data.size || e.data.byteLength) + "]";
        wcs.frames.push({dir: "in", text, t: now()});
      });
      this.addEventListener("close", (e) => {
        info.closed = {code: e.code, reason: e.reason, wasClean: e.wasClean, t: now()};
        record({kind: "socket", status: "CLOSED", code: e.code, reason: e.reason});
      });
    }
    send(data) {
      wcs.frames.push({dir: "out", text: typeof data === "string" ? data : "[binary]", t: now()});
      return super.send(data);
    }
  }
  window.WebSocket = RecordingWebSocket;

  // --- RTCPeerConnection: keep every instance -----------------------------------------------------
  const NativePC = window.RTCPeerConnection;
  class RecordingPC extends NativePC {
    constructor(...args) {
      super(...args);
      wcs.pcs.push(this);
      const pcIndex = wcs.pcs.length - 1;
      this.addEventListener("connectionstatechange", () =>
        record({kind: "pc", status: this.connectionState, pc: pcIndex}));
    }
  }
  window.RTCPeerConnection = RecordingPC;

  function livePC() {
    for (let i = wcs.pcs.length - 1; i >= 0; i--) {
      if (wcs.pcs[i].signalingState !== "closed") return wcs.pcs[i];
    }
    return null;
  }
  wcs.livePC = livePC;

  wcs.pcStates = function () {
    return wcs.pcs.map((pc) => ({
      signalingState: pc.signalingState, iceConnectionState: pc.iceConnectionState,
      connectionState: pc.connectionState, iceGatheringState: pc.iceGatheringState,
      localDescription: pc.localDescription && pc.localDescription.sdp,
      remoteDescription: pc.remoteDescription && pc.remoteDescription.sdp,
    }));
  };

  // --- SDK glue ----------------------------------------------------------------------------------
  function constants() {
    return Flashphoner.constants;
  }

  function attachCall(call) {
    wcs.calls[call.id()] = call;
    wcs.currentCall = call;
    for (const status of Object.values(constants().CALL_STATUS)) {
      call.on(status, (c) => {
        const ev = {kind: "call", callId: c.id(), status};
        try {
          const info = c.getInfo && c.getInfo();
          const err = c.getErrorInfo && c.getErrorInfo();
          if (info) ev.info = info;
          if (err) ev.errorInfo = err;
        } catch (e) { /* informational only */ }
        record(ev);
      });
    }
    return call;
  }

  function displays() {
    return {
      localVideoDisplay: document.getElementById("localDisplay"),
      remoteVideoDisplay: document.getElementById("remoteDisplay"),
    };
  }

  function plain(obj) {
    try { return JSON.parse(JSON.stringify(obj === undefined ? null : obj)); } catch (e) { return String(obj); }
  }

  wcs.connect = async function (o) {
    o = o || {};
    await Flashphoner.init({});
    const S = constants().SESSION_STATUS;
    const options = {urlServer: o.url};
    if (o.keepAlive !== undefined) options.keepAlive = o.keepAlive;
    if (o.authToken) options.authToken = o.authToken;
    if (o.timeout !== undefined) options.timeout = o.timeout;
    if (o.sip !== false) {
      options.sipOptions = {
        login: o.login, authenticationName: o.authName, password: o.password, domain: o.domain,
        outboundProxy: o.outboundProxy, port: o.port, registerRequired: o.registerRequired,
      };
    }
    record({kind: "local", status: "CONNECT", url: o.url});
    const session = Flashphoner.createSession(options);
    wcs.session = session;
    for (const status of Object.values(S)) {
      session.on(status, (a, b) => {
        try {
          if (status === S.INCOMING_CALL) {
            const call = attachCall(a);
            record({kind: "session", status, callId: call.id(), caller: call.caller(),
                    callee: call.callee(), visibleName: call.visibleName()});
          } else if (status === S.ESTABLISHED) {
            record({kind: "session", status, data: plain(b)});
          } else if (status === S.WARN || status === S.APP_DATA || status === S.DEBUG) {
            record({kind: "session", status, data: plain(a)});
          } else {
            record({kind: "session", status});
          }
        } catch (e) { recordError("session " + status, e); }
      });
    }
    return true;
  };

  wcs.call = function (callee, opts) {
    opts = opts || {};
    const video = !!opts.video;
    const options = Object.assign({
      callee,
      visibleName: opts.visibleName,
      constraints: {audio: true, video},
      receiveAudio: true,
      receiveVideo: video,
    }, displays());
    if (opts.sipSDP) options.sipSDP = opts.sipSDP;
    if (opts.stripCodecs) options.stripCodecs = opts.stripCodecs;
    if (opts.custom) options.custom = opts.custom;
    const call = attachCall(wcs.session.createCall(options));
    record({kind: "local", status: "CALL", callId: call.id(), callee});
    call.call();
    return call.id();
  };

  function current(callId) {
    const call = callId ? wcs.calls[callId] : wcs.currentCall;
    if (!call) throw new Error("no call" + (callId ? " " + callId : ""));
    return call;
  }

  wcs.answer = function (callId, opts) {
    opts = opts || {};
    const call = current(callId);
    record({kind: "local", status: "ANSWER", callId: call.id()});
    const options = Object.assign({constraints: {audio: true, video: !!opts.video}, receiveVideo: !!opts.video},
                                  displays());
    if (opts.sipSDP) options.sipSDP = opts.sipSDP;
    if (opts.stripCodecs) options.stripCodecs = opts.stripCodecs;
    call.answer(options);
    return call.id();
  };

  wcs.hangup = function (callId) {
    const call = current(callId);
    record({kind: "local", status: "HANGUP", callId: call.id()});
    call.hangup();
    return call.id();
  };

  wcs.sendDTMF = function (digits, type, callId) {
    const call = current(callId);
    record({kind: "local", status: "DTMF", callId: call.id(), digits});
    call.sendDTMF(digits, type || "RFC2833");
  };

  wcs.hold = function (callId) {
    const call = current(callId);
    record({kind: "local", status: "HOLD", callId: call.id()});
    call.hold();
  };

  wcs.unhold = function (callId) {
    const call = current(callId);
    record({kind: "local", status: "UNHOLD", callId: call.id()});
    call.unhold();
  };

  wcs.transfer = function (target, callId) {
    const call = current(callId);
    record({kind: "local", status: "TRANSFER", callId: call.id(), target});
    call.transfer(target);
  };

  wcs.disconnect = function () {
    if (wcs.session) {
      record({kind: "local", status: "DISCONNECT"});
      wcs.session.disconnect();
    }
  };

  // --- media checks ------------------------------------------------------------------------------
  wcs.stats = async function () {
    const pc = livePC();
    if (!pc) return null;
    const report = await pc.getStats();
    const out = {inbound: null, outbound: null, source: null, pair: null, codecs: {},
                 signalingState: pc.signalingState, iceConnectionState: pc.iceConnectionState,
                 connectionState: pc.connectionState};
    report.forEach((s) => {
      if (s.type === "codec") out.codecs[s.id] = {mimeType: s.mimeType, clockRate: s.clockRate,
                                                  payloadType: s.payloadType, channels: s.channels};
    });
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        out.inbound = {packetsReceived: s.packetsReceived, bytesReceived: s.bytesReceived,
                       packetsLost: s.packetsLost, jitter: s.jitter, audioLevel: s.audioLevel,
                       totalAudioEnergy: s.totalAudioEnergy, ssrc: s.ssrc,
                       codec: (out.codecs[s.codecId] || {}).mimeType || null};
      } else if (s.type === "outbound-rtp" && s.kind === "audio") {
        out.outbound = {packetsSent: s.packetsSent, bytesSent: s.bytesSent, ssrc: s.ssrc,
                        codec: (out.codecs[s.codecId] || {}).mimeType || null};
      } else if (s.type === "media-source" && s.kind === "audio") {
        out.source = {audioLevel: s.audioLevel, totalAudioEnergy: s.totalAudioEnergy};
      } else if (s.type === "transport" && s.selectedCandidatePairId) {
        const p = report.get(s.selectedCandidatePairId);
        const l = p && report.get(p.localCandidateId), r = p && report.get(p.remoteCandidateId);
        if (l && r) out.pair = {local: l.address + ":" + l.port + "/" + l.protocol,
                                remote: r.address + ":" + r.port + "/" + r.protocol,
                                remoteType: r.candidateType};
        out.dtlsState = s.dtlsState;
      }
    });
    if (out.outbound && out.source) out.outbound.audioLevel = out.source.audioLevel;
    return out;
  };

  // FFT of the remote audio track of the live PC; peak frequency and share of power near expectHz.
  wcs.remoteAudioPeak = async function (ms, expectHz, bandHz) {
    ms = ms || 1500;
    bandHz = bandHz || 50;
    const pc = livePC();
    if (!pc) return {error: "no live peer connection"};
    const rx = pc.getReceivers().find((r) => r.track && r.track.kind === "audio");
    if (!rx) return {error: "no audio receiver"};
    const stream = new MediaStream([rx.track]);
    // Chrome only feeds WebAudio from a remote track that is also attached to a media element
    const el = document.createElement("audio");
    el.muted = true; el.autoplay = true; el.srcObject = stream;
    document.body.appendChild(el);
    try { await el.play(); } catch (e) { /* muted autoplay is allowed; ignore */ }
    const ctx = new AudioContext();
    try {
      await ctx.resume();
      const src = ctx.createMediaStreamSource(stream);
      const an = ctx.createAnalyser();
      an.fftSize = 8192; an.smoothingTimeConstant = 0;
      src.connect(an);
      const buf = new Float32Array(an.frequencyBinCount);
      const acc = new Float64Array(an.frequencyBinCount);
      const end = performance.now() + ms;
      let n = 0;
      while (performance.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
        an.getFloatFrequencyData(buf);
        for (let i = 0; i < buf.length; i++) acc[i] += Math.pow(10, buf[i] / 10);
        n++;
      }
      const binHz = ctx.sampleRate / an.fftSize;
      let best = 1, total = 0, band = 0;
      for (let i = 1; i < acc.length; i++) {
        if (acc[i] > acc[best]) best = i;
        total += acc[i];
        if (expectHz && Math.abs(i * binHz - expectHz) <= bandHz) band += acc[i];
      }
      const res = {peak_hz: best * binHz, peak_db: 10 * Math.log10(acc[best] / Math.max(n, 1)),
                   sample_rate: ctx.sampleRate, frames: n, track_state: rx.track.readyState,
                   track_muted: rx.track.muted};
      if (expectHz) res.band_ratio = total > 0 ? band / total : 0;
      return res;
    } finally {
      ctx.close();
      el.srcObject = null;
      el.remove();
    }
  };

  window.addEventListener("error", (e) => recordError("window.onerror", e.error || e.message));
  window.addEventListener("unhandledrejection", (e) => recordError("unhandledrejection", e.reason));
})();
