"use strict";
(() => {
  // node_modules/zxing-wasm/dist/es/share.js
  var e = [
    [
      "All",
      "*",
      "*",
      "     ",
      0,
      "All"
    ],
    [
      "AllReadable",
      "*",
      "r",
      "     ",
      0,
      "All Readable"
    ],
    [
      "AllCreatable",
      "*",
      "w",
      "     ",
      0,
      "All Creatable"
    ],
    [
      "AllLinear",
      "*",
      "l",
      "     ",
      0,
      "All Linear"
    ],
    [
      "AllMatrix",
      "*",
      "m",
      "     ",
      0,
      "All Matrix"
    ],
    [
      "AllGS1",
      "*",
      "G",
      "     ",
      0,
      "All GS1"
    ],
    [
      "AllRetail",
      "*",
      "R",
      "     ",
      0,
      "All Retail"
    ],
    [
      "AllIndustrial",
      "*",
      "I",
      "     ",
      0,
      "All Industrial"
    ],
    [
      "Codabar",
      "F",
      " ",
      "lrw  ",
      18,
      "Codabar"
    ],
    [
      "Code39",
      "A",
      " ",
      "lrw I",
      8,
      "Code 39"
    ],
    [
      "Code39Std",
      "A",
      "s",
      "lrw I",
      8,
      "Code 39 Standard"
    ],
    [
      "Code39Ext",
      "A",
      "e",
      "lr  I",
      9,
      "Code 39 Extended"
    ],
    [
      "Code32",
      "A",
      "2",
      "lr  I",
      129,
      "Code 32"
    ],
    [
      "PZN",
      "A",
      "p",
      "lr  I",
      52,
      "Pharmazentralnummer"
    ],
    [
      "Code93",
      "G",
      " ",
      "lrw I",
      25,
      "Code 93"
    ],
    [
      "Code128",
      "C",
      " ",
      "lrwGI",
      20,
      "Code 128"
    ],
    [
      "ITF",
      "I",
      " ",
      "lrw I",
      3,
      "ITF"
    ],
    [
      "ITF14",
      "I",
      "4",
      "lr  I",
      89,
      "ITF-14"
    ],
    [
      "DataBar",
      "e",
      " ",
      "lr GR",
      29,
      "DataBar"
    ],
    [
      "DataBarOmni",
      "e",
      "o",
      "lr GR",
      29,
      "DataBar Omni"
    ],
    [
      "DataBarStk",
      "e",
      "s",
      "lr GR",
      79,
      "DataBar Stacked"
    ],
    [
      "DataBarStkOmni",
      "e",
      "O",
      "lr GR",
      80,
      "DataBar Stacked Omni"
    ],
    [
      "DataBarLtd",
      "e",
      "l",
      "lr GR",
      30,
      "DataBar Limited"
    ],
    [
      "DataBarExp",
      "e",
      "e",
      "lr GR",
      31,
      "DataBar Expanded"
    ],
    [
      "DataBarExpStk",
      "e",
      "E",
      "lr GR",
      81,
      "DataBar Expanded Stacked"
    ],
    [
      "EANUPC",
      "E",
      " ",
      "lr  R",
      15,
      "EAN/UPC"
    ],
    [
      "EAN13",
      "E",
      "1",
      "lrw R",
      15,
      "EAN-13"
    ],
    [
      "EAN8",
      "E",
      "8",
      "lrw R",
      10,
      "EAN-8"
    ],
    [
      "EAN5",
      "E",
      "5",
      "l   R",
      12,
      "EAN-5"
    ],
    [
      "EAN2",
      "E",
      "2",
      "l   R",
      11,
      "EAN-2"
    ],
    [
      "ISBN",
      "E",
      "i",
      "lr  R",
      69,
      "ISBN"
    ],
    [
      "UPCA",
      "E",
      "a",
      "lrw R",
      34,
      "UPC-A"
    ],
    [
      "UPCE",
      "E",
      "e",
      "lrw R",
      37,
      "UPC-E"
    ],
    [
      "Telepen",
      "B",
      " ",
      "lr  I",
      32,
      "Telepen"
    ],
    [
      "TelepenAlpha",
      "B",
      "0",
      "lr  I",
      32,
      "Telepen Alpha"
    ],
    [
      "TelepenNumeric",
      "B",
      "1",
      "lr  I",
      87,
      "Telepen Numeric"
    ],
    [
      "OtherBarcode",
      "X",
      " ",
      " r   ",
      0,
      "Other barcode"
    ],
    [
      "DXFilmEdge",
      "X",
      "x",
      "lr   ",
      147,
      "DX Film Edge"
    ],
    [
      "PDF417",
      "L",
      " ",
      "mrw  ",
      55,
      "PDF417"
    ],
    [
      "CompactPDF417",
      "L",
      "c",
      "mr   ",
      56,
      "Compact PDF417"
    ],
    [
      "MicroPDF417",
      "L",
      "m",
      "mr   ",
      84,
      "MicroPDF417"
    ],
    [
      "Aztec",
      "z",
      " ",
      "mr G ",
      92,
      "Aztec"
    ],
    [
      "AztecCode",
      "z",
      "c",
      "mrwG ",
      92,
      "Aztec Code"
    ],
    [
      "AztecRune",
      "z",
      "r",
      "mr   ",
      128,
      "Aztec Rune"
    ],
    [
      "QRCode",
      "Q",
      " ",
      "mrwG ",
      58,
      "QR Code"
    ],
    [
      "QRCodeModel1",
      "Q",
      "1",
      "mr   ",
      0,
      "QR Code Model 1"
    ],
    [
      "QRCodeModel2",
      "Q",
      "2",
      "mr   ",
      58,
      "QR Code Model 2"
    ],
    [
      "MicroQRCode",
      "Q",
      "m",
      "mr   ",
      97,
      "Micro QR Code"
    ],
    [
      "RMQRCode",
      "Q",
      "r",
      "mr G ",
      145,
      "rMQR Code"
    ],
    [
      "DataMatrix",
      "d",
      " ",
      "mrwG ",
      71,
      "Data Matrix"
    ],
    [
      "MaxiCode",
      "U",
      " ",
      "mr   ",
      57,
      "MaxiCode"
    ]
  ];
  var t = {
    DataBarExpanded: "DataBarExp",
    DataBarLimited: "DataBarLtd",
    "Linear-Codes": "AllLinear",
    "Matrix-Codes": "AllMatrix",
    Any: "All",
    rMQRCode: "RMQRCode"
  };
  var n = e.map((e2) => e2[5]);
  var r = e.filter((e2) => e2[1] === "*").map((e2) => e2[0]);
  var i = e.filter((e2) => e2[1] !== "*").map((e2) => e2[0]);
  var o = e.filter((e2) => e2[2] === " ").map((e2) => e2[0]);
  var s = e.filter((e2) => e2[3][0] === "l").map((e2) => e2[0]);
  var l = e.filter((e2) => e2[3][0] === "m").map((e2) => e2[0]);
  var d = e.filter((e2) => e2[3][1] === "r").map((e2) => e2[0]);
  var f = e.filter((e2) => e2[3][2] === "w" || e2[4] !== 0).map((e2) => e2[0]);
  var p = e.filter((e2) => e2[3][3] === "G").map((e2) => e2[0]);
  var m = e.filter((e2) => e2[3][4] === "R").map((e2) => e2[0]);
  var h = e.filter((e2) => e2[3][4] === "I").map((e2) => e2[0]);
  function y(e2) {
    var n2;
    return (n2 = t[e2]) == null ? e2 : n2;
  }
  function b(e2) {
    return e2.map(y).join(",");
  }
  var x = [
    "LocalAverage",
    "GlobalHistogram",
    "FixedThreshold",
    "BoolCast"
  ];
  function C(e2) {
    return x.indexOf(e2);
  }
  var w = /* @__PURE__ */ "Unknown.ASCII.ISO8859_1.ISO8859_2.ISO8859_3.ISO8859_4.ISO8859_5.ISO8859_6.ISO8859_7.ISO8859_8.ISO8859_9.ISO8859_10.ISO8859_11.ISO8859_13.ISO8859_14.ISO8859_15.ISO8859_16.Cp437.Cp1250.Cp1251.Cp1252.Cp1256.Shift_JIS.Big5.GB2312.GB18030.EUC_JP.EUC_KR.UTF16BE.UTF8.UTF16LE.UTF32BE.UTF32LE.BINARY".split(".");
  function E(e2) {
    return e2 === "UnicodeBig" ? w.indexOf("UTF16BE") : w.indexOf(e2);
  }
  var D = [
    "Text",
    "Binary",
    "Mixed",
    "GS1",
    "ISO15434",
    "UnknownECI"
  ];
  function k(e2) {
    return D[e2];
  }
  var A = [
    "Ignore",
    "Read",
    "Require"
  ];
  function M(e2) {
    return A.indexOf(e2);
  }
  var N = [
    "Plain",
    "ECI",
    "HRI",
    "Escaped",
    "Hex",
    "HexECI"
  ];
  function F(e2) {
    return N.indexOf(e2);
  }
  var I = {
    formats: [],
    tryHarder: true,
    tryRotate: true,
    tryInvert: true,
    tryDownscale: true,
    tryDenoise: false,
    binarizer: "LocalAverage",
    isPure: false,
    downscaleFactor: 3,
    downscaleThreshold: 500,
    minLineCount: 2,
    maxNumberOfSymbols: 255,
    validateOptionalChecksum: false,
    returnErrors: false,
    eanAddOnSymbol: "Ignore",
    textMode: "HRI",
    characterSet: "Unknown",
    tryCode39ExtendedMode: true
  };
  function L(e2) {
    var t2;
    return {
      ...e2,
      formats: b(e2.formats),
      binarizer: C(e2.binarizer),
      eanAddOnSymbol: M(e2.eanAddOnSymbol),
      textMode: F(e2.textMode),
      characterSet: E(e2.characterSet),
      tryCode39ExtendedMode: (t2 = e2.tryCode39ExtendedMode) == null || t2
    };
  }
  function R(e2) {
    return {
      ...e2,
      orientation: e2.rotation,
      format: e2.format,
      symbology: e2.symbology,
      contentType: k(e2.contentType)
    };
  }
  var B = {
    format: "QRCode",
    readerInit: false,
    forceSquareDataMatrix: false,
    ecLevel: "",
    scale: 1,
    sizeHint: 0,
    rotate: 0,
    invert: false,
    withHRT: false,
    withQuietZones: true,
    addHRT: false,
    addQuietZones: true,
    options: ""
  };
  function H(e2, t2) {
    let n2 = e2.byteLength >> 2;
    for (let r2 = 0; r2 < n2; r2 += 1024) {
      let i2 = Math.min(r2 + 1024, n2);
      for (let n3 = r2; n3 < i2; n3++) {
        let r3 = n3 << 2;
        t2[n3] = 306 * e2[r3] + 601 * e2[r3 + 1] + 117 * e2[r3 + 2] + 512 >> 10;
      }
    }
  }
  var G = { locateFile: (e2, t2) => {
    let n2 = e2.match(/_(.+?)\.wasm$/);
    return n2 ? `https://fastly.jsdelivr.net/npm/zxing-wasm@3.1.6/dist/${n2[1]}/${e2}` : t2 + e2;
  } };
  var K = /* @__PURE__ */ new WeakMap();
  function q(e2, t2) {
    return Object.is(e2, t2) || Object.keys(e2).length === Object.keys(t2).length && Object.keys(e2).every((n2) => Object.prototype.hasOwnProperty.call(t2, n2) && e2[n2] === t2[n2]);
  }
  function J(e2) {
    let { overrides: t2, equalityFn: n2 = q, fireImmediately: r2 = false } = arguments.length > 1 && arguments[1] !== void 0 ? arguments[1] : {};
    var i2;
    let [a2, o2] = (i2 = K.get(e2)) == null ? [G] : i2, s2 = t2 == null ? a2 : t2, c2;
    if (r2) {
      if (o2 && (c2 = n2(a2, s2))) return o2;
      let t3 = e2({ ...s2 });
      return K.set(e2, [s2, t3]), t3;
    }
    (c2 == null ? n2(a2, s2) : c2) || K.set(e2, [s2]);
  }
  async function X(e2, t2) {
    let n2 = arguments.length > 2 && arguments[2] !== void 0 ? arguments[2] : I, r2 = {
      ...I,
      ...n2
    }, i2 = await J(e2, { fireImmediately: true }), a2, o2 = L(r2);
    if ("width" in t2 && "height" in t2 && "data" in t2) {
      let { width: e3, height: n3 } = t2, r3 = t2.data.buffer === i2.HEAPU8.buffer ? t2.data.slice() : t2.data, s2 = r3.byteLength / 4, c2 = i2._malloc(s2);
      if (!c2) throw Error(`Failed to allocate ${s2} bytes in WASM memory`);
      try {
        H(r3, i2.HEAPU8.subarray(c2, c2 + s2)), a2 = i2.readBarcodesFromPixmap(c2, e3, n3, o2);
      } finally {
        i2._free(c2);
      }
    } else {
      let e3;
      if ("buffer" in t2) e3 = t2;
      else if ("byteLength" in t2) e3 = new Uint8Array(t2);
      else if ("size" in t2) e3 = new Uint8Array(await t2.arrayBuffer());
      else throw TypeError("Invalid input type");
      let n3 = i2._malloc(e3.byteLength);
      if (!n3) throw Error(`Failed to allocate ${e3.byteLength} bytes in WASM memory`);
      try {
        i2.HEAPU8.set(e3, n3), a2 = i2.readBarcodesFromImage(n3, e3.byteLength, o2);
      } finally {
        i2._free(n3);
      }
    }
    try {
      let e3 = [], t3 = a2.size();
      for (let n3 = 0; n3 < t3; ++n3) e3.push(R(a2.get(n3)));
      return e3;
    } finally {
      a2.delete();
    }
  }
  var Q = {
    ...I,
    formats: [...I.formats]
  };
  var $ = { ...B };

  // node_modules/zxing-wasm/dist/es/reader/index.js
  function he(e2, t2, n2) {
    return t2 in e2 ? Object.defineProperty(e2, t2, {
      value: n2,
      enumerable: true,
      configurable: true,
      writable: true
    }) : e2[t2] = n2, e2;
  }
  async function b2() {
    let e2 = arguments.length > 0 && arguments[0] !== void 0 ? arguments[0] : {};
    var t2, n2, r2, i2 = e2, a2 = !!globalThis.window, o2 = !!globalThis.WorkerGlobalScope;
    (n2 = globalThis.process) != null && (t2 = n2.versions) != null && t2.node && ((r2 = globalThis.process) == null || r2.type);
    var s2 = (e3, t3) => {
      throw t3;
    }, c2 = void 0, l2 = "";
    function u2(e3) {
      return i2.locateFile ? i2.locateFile(e3, l2) : l2 + e3;
    }
    var d2, f2;
    if (a2 || o2 || typeof fetch == "function") {
      try {
        l2 = new URL(".", c2).href;
      } catch {
      }
      o2 && (f2 = (e3) => {
        var t3 = new XMLHttpRequest();
        return t3.open("GET", e3, false), t3.responseType = "arraybuffer", t3.send(null), new Uint8Array(t3.response);
      }), d2 = async (e3) => {
        var t3 = await fetch(e3, { credentials: "same-origin" });
        if (t3.ok) return t3.arrayBuffer();
        throw Error(t3.status + " : " + t3.url);
      };
    }
    console.log.bind(console);
    var p2 = console.error.bind(console), m2, h2 = false, g2;
    class _2 {
    }
    class ee extends _2 {
      constructor(e3) {
        super(), this.excPtr = e3;
      }
    }
    function te() {
      return nr.buffer;
    }
    function ne() {
      var e3;
      if (!(y2 != null && (e3 = y2.buffer) != null && e3.resizable)) {
        var t3 = te();
        y2 = new Int8Array(t3), Ht = new Int16Array(t3), i2.HEAPU8 = I2 = new Uint8Array(t3), Y2 = new Uint16Array(t3), Ut = new Int32Array(t3), E2 = new Uint32Array(t3), Lt = new Float32Array(t3), Rt = new Float64Array(t3);
      }
    }
    function re() {
      var e3 = i2.preRun;
      e3 && (typeof e3 == "function" && (e3 = [e3]), ge.push(...e3)), b3(ge);
    }
    function ie() {
      Rr.ra();
    }
    function ae() {
      var e3 = i2.postRun;
      e3 && (typeof e3 == "function" && (e3 = [e3]), x3.push(...e3)), b3(x3);
    }
    function oe(e3) {
      var t3;
      throw (t3 = i2.onAbort) == null || t3.call(i2, e3), e3 = `Aborted(${e3})`, p2(e3), h2 = true, e3 += ". Build with -sASSERTIONS for more info.", new WebAssembly.RuntimeError(e3);
    }
    var v2;
    function se() {
      return u2("zxing_reader.wasm");
    }
    function ce(e3) {
      if (e3 == v2 && m2) return new Uint8Array(m2);
      if (f2) return f2(e3);
      throw "both async and sync fetching of the wasm failed";
    }
    async function le(e3) {
      if (!m2) try {
        var t3 = await d2(e3);
        return new Uint8Array(t3);
      } catch {
      }
      return ce(e3);
    }
    async function ue(e3, t3) {
      try {
        var n3 = await le(e3);
        return await WebAssembly.instantiate(n3, t3);
      } catch (e4) {
        p2(`failed to asynchronously prepare wasm: ${e4}`), oe(e4);
      }
    }
    async function de(e3, t3, n3) {
      if (!e3) try {
        var r3 = fetch(t3, { credentials: "same-origin" });
        return await WebAssembly.instantiateStreaming(r3, n3);
      } catch (e4) {
        p2(`wasm streaming compile failed: ${e4}`), p2("falling back to ArrayBuffer instantiation");
      }
      return ue(t3, n3);
    }
    function fe() {
      return { a: ar };
    }
    async function pe() {
      function e3(e4) {
        return Rr = e4.exports, ir(Rr), ne(), Rr;
      }
      function t3(t4) {
        return e3(t4.instance);
      }
      var n3 = fe(), r3 = i2.instantiateWasm;
      return r3 ? new Promise((t4) => {
        r3(n3, (n4) => t4(e3(n4)));
      }) : (v2 != null || (v2 = se()), t3(await de(m2, v2, n3)));
    }
    class me {
      constructor(e3) {
        he(this, "name", "ExitStatus"), this.message = `Program terminated with exit(${e3})`, this.status = e3;
      }
    }
    var y2, b3 = (e3) => {
      for (; e3.length > 0; ) e3.shift()(i2);
    }, x3 = [], ge = [], _e = true, S2 = (e3) => Yn(e3), C3 = () => Zn(), ve = [], w2 = (e3) => {
      var t3 = ve[e3];
      return t3 || (ve[e3] = t3 = rr.get(e3)), t3;
    }, ye = (e3, t3) => w2(e3)(t3), T2 = [], be = 0, E2;
    class xe {
      set_type(e3) {
        E2[this.ptr + 4 >> 2] = e3;
      }
      get_type() {
        return E2[this.ptr + 4 >> 2];
      }
      set_destructor(e3) {
        E2[this.ptr + 8 >> 2] = e3;
      }
      get_destructor() {
        return E2[this.ptr + 8 >> 2];
      }
      set_caught(e3) {
        e3 = +!!e3, y2[this.ptr + 12] = e3;
      }
      get_caught() {
        return y2[this.ptr + 12] != 0;
      }
      set_rethrown(e3) {
        e3 = +!!e3, y2[this.ptr + 13] = e3;
      }
      get_rethrown() {
        return y2[this.ptr + 13] != 0;
      }
      init(e3, t3) {
        this.set_adjusted_ptr(0), this.set_type(e3), this.set_destructor(t3);
      }
      set_adjusted_ptr(e3) {
        E2[this.ptr + 16 >> 2] = e3;
      }
      get_adjusted_ptr() {
        return E2[this.ptr + 16 >> 2];
      }
      constructor(e3) {
        this.excPtr = e3, this.ptr = e3 - 24;
      }
    }
    var Se = (e3) => {
      var t3 = new xe(e3);
      return t3.get_caught() || (t3.set_caught(true), be--), t3.set_rethrown(false), T2.push(t3), Kn(e3);
    }, D2 = null, Ce = () => {
      $2(0, 0);
      var e3 = T2.pop();
      $n(e3.excPtr), D2 = null;
    }, O2 = (e3) => Jn(e3), we = (e3) => {
      var t3 = D2 == null ? void 0 : D2.excPtr;
      if (!t3) return O2(0), 0;
      var n3 = new xe(t3);
      n3.set_adjusted_ptr(t3);
      var r3 = n3.get_type();
      if (!r3) return O2(0), t3;
      for (var i3 of e3) {
        if (!i3 || i3 === r3) break;
        var a3 = n3.ptr + 16;
        if (er(i3, r3, a3)) return O2(i3), t3;
      }
      return O2(r3), t3;
    }, Te = () => we([]), Ee = (e3) => we([e3]), De = (e3, t3) => we([e3, t3]), Oe = (e3) => {
      throw e3;
    }, ke = () => {
      T2.length || oe("no exception to throw");
      var e3 = T2[T2.length - 1], t3 = e3.excPtr;
      e3.set_rethrown(true), e3.set_caught(false), be++, Qn(t3), t3 = D2 = new ee(t3), Oe(t3);
    }, Ae = (e3, t3, n3) => {
      new xe(e3).init(t3, n3), Qn(e3), e3 = D2 = new ee(e3), be++, Oe(e3);
    }, je = (e3) => {
      throw e3;
    }, Me = (e3) => {
      e3 = D2 == null ? D2 = new ee(e3) : D2, je(e3);
    }, Ne = () => oe(""), k2 = {}, Pe = (e3) => {
      for (; e3.length; ) {
        var t3 = e3.pop();
        e3.pop()(t3);
      }
    };
    function A2(e3) {
      return this.fromWireType(E2[e3 >> 2]);
    }
    var j2 = {}, M2 = {}, N2 = {};
    class Fe extends Error {
      constructor(e3) {
        super(e3), this.name = "InternalError";
      }
    }
    var P2 = (e3) => {
      throw new Fe(e3);
    }, F2 = (e3, t3, n3) => {
      e3.forEach((e4) => N2[e4] = t3);
      function r3(t4) {
        var r4 = n3(t4);
        r4.length !== e3.length && P2("Mismatched type converter count");
        for (var i4 = 0; i4 < e3.length; ++i4) B2(e3[i4], r4[i4]);
      }
      var i3 = Array(t3.length), a3 = [], o3 = 0;
      for (let [e4, n4] of t3.entries()) M2.hasOwnProperty(n4) ? i3[e4] = M2[n4] : (a3.push(n4), j2.hasOwnProperty(n4) || (j2[n4] = []), j2[n4].push(() => {
        i3[e4] = M2[n4], ++o3, o3 === a3.length && r3(i3);
      }));
      a3.length === 0 && r3(i3);
    }, Ie = (e3) => Xn(e3), I2, Le = (e3, t3) => I2.fill(0, e3, e3 + t3), Re = (e3) => {
      var t3 = k2[e3];
      delete k2[e3];
      var n3 = t3.rawConstructor, r3 = t3.rawDestructor, i3 = t3.valueSize, a3 = t3.isTrivial, o3 = t3.fields, s3 = o3.map((e4) => e4.getterReturnType).concat(o3.map((e4) => e4.setterArgumentType));
      F2([e3], s3, (e4) => {
        var s4 = {};
        for (var [c3, l3] of o3.entries()) {
          let t4 = e4[c3], n4 = l3.getter, r4 = l3.getterContext, i4 = e4[c3 + o3.length], a4 = l3.setter, d3 = l3.setterContext;
          var u3 = i4.destructorFunction === null && !i4.argStackAlloc ? (e5, t5) => a4(d3, e5, i4.toWireType(null, t5)) : (e5, t5) => {
            var n5 = [];
            a4(d3, e5, i4.toWireType(n5, t5)), Pe(n5);
          };
          s4[l3.fieldName] = {
            read: (e5) => t4.fromWireType(n4(r4, e5)),
            write: u3,
            optional: t4.optional
          };
        }
        return [{
          name: t3.name,
          fromWireType: (e5) => {
            var t4 = {};
            for (var n4 in s4) t4[n4] = s4[n4].read(e5);
            return r3(e5), t4;
          },
          toWireType: (e5, t4) => {
            for (var o4 in s4) if (!(o4 in t4) && !s4[o4].optional) throw TypeError(`Missing field: "${o4}"`);
            var c4;
            for (o4 in a3 && !e5 ? (c4 = Ie(i3), Le(c4, i3)) : (c4 = n3(), e5 && e5.push(r3, c4)), s4) s4[o4].write(c4, t4[o4]);
            return c4;
          },
          readValueFromPointer: A2,
          destructorFunction: a3 ? null : r3,
          argStackAlloc: a3
        }];
      });
    }, ze = (e3, t3, n3, r3, i3) => {
    }, L2 = (e3) => {
      for (var t3 = ""; ; ) {
        var n3 = I2[e3++];
        if (!n3) return t3;
        t3 += String.fromCharCode(n3);
      }
    };
    class R2 extends Error {
      constructor(e3) {
        super(e3), this.name = "BindingError";
      }
    }
    var z = (e3) => {
      throw new R2(e3);
    };
    function Be(e3, t3) {
      let n3 = arguments.length > 2 && arguments[2] !== void 0 ? arguments[2] : {};
      var r3 = t3.name;
      if (e3 || z(`type "${r3}" must have a positive integer typeid pointer`), M2.hasOwnProperty(e3)) {
        if (n3.ignoreDuplicateRegistrations) return;
        z(`Cannot register type '${r3}' twice`);
      }
      if (M2[e3] = t3, delete N2[e3], j2.hasOwnProperty(e3)) {
        var i3 = j2[e3];
        delete j2[e3], i3.forEach((e4) => e4());
      }
    }
    function B2(e3, t3) {
      return Be(e3, t3, arguments.length > 2 && arguments[2] !== void 0 ? arguments[2] : {});
    }
    var Ve = (e3, t3, n3, r3) => {
      t3 = L2(t3), B2(e3, {
        name: t3,
        fromWireType: function(e4) {
          return !!e4;
        },
        toWireType: function(e4, t4) {
          return t4 ? n3 : r3;
        },
        readValueFromPointer: function(e4) {
          return this.fromWireType(I2[e4]);
        },
        destructorFunction: null
      });
    }, He = (e3) => ({
      count: e3.count,
      deleteScheduled: e3.deleteScheduled,
      preservePointerOnDelete: e3.preservePointerOnDelete,
      ptr: e3.ptr,
      ptrType: e3.ptrType,
      smartPtr: e3.smartPtr,
      smartPtrType: e3.smartPtrType
    }), Ue = (e3) => {
      function t3(e4) {
        return e4.$$.ptrType.registeredClass.name;
      }
      z(t3(e3) + " instance already deleted");
    }, We = false, Ge = (e3) => {
    }, Ke = (e3) => {
      e3.smartPtr ? e3.smartPtrType.rawDestructor(e3.smartPtr) : e3.ptrType.registeredClass.rawDestructor(e3.ptr);
    }, qe = (e3) => {
      --e3.count.value, e3.count.value === 0 && Ke(e3);
    }, V = (e3) => globalThis.FinalizationRegistry ? (We = new FinalizationRegistry((e4) => {
      qe(e4.$$);
    }), V = (e4) => {
      var t3 = e4.$$;
      if (t3.smartPtr) {
        var n3 = { $$: t3 };
        We.register(e4, n3, e4);
      }
      return e4;
    }, Ge = (e4) => We.unregister(e4), V(e3)) : (V = (e4) => e4, e3), H2 = [], Je = () => {
      for (; H2.length; ) {
        var e3 = H2.pop();
        e3.$$.deleteScheduled = false, e3.delete();
      }
    }, Ye, Xe = () => {
      let e3 = U2.prototype;
      Object.assign(e3, {
        isAliasOf(e4) {
          if (!(this instanceof U2) || !(e4 instanceof U2)) return false;
          var t4 = this.$$.ptrType.registeredClass, n3 = this.$$.ptr;
          e4.$$ = e4.$$;
          for (var r3 = e4.$$.ptrType.registeredClass, i3 = e4.$$.ptr; t4.baseClass; ) n3 = t4.upcast(n3), t4 = t4.baseClass;
          for (; r3.baseClass; ) i3 = r3.upcast(i3), r3 = r3.baseClass;
          return t4 === r3 && n3 === i3;
        },
        clone() {
          if (this.$$.ptr || Ue(this), this.$$.preservePointerOnDelete) return this.$$.count.value += 1, this;
          var e4 = V(Object.create(Object.getPrototypeOf(this), { $$: { value: He(this.$$) } }));
          return e4.$$.count.value += 1, e4.$$.deleteScheduled = false, e4;
        },
        delete() {
          this.$$.ptr || Ue(this), this.$$.deleteScheduled && !this.$$.preservePointerOnDelete && z("Object already scheduled for deletion"), Ge(this), qe(this.$$), this.$$.preservePointerOnDelete || (this.$$.smartPtr = void 0, this.$$.ptr = void 0);
        },
        isDeleted() {
          return !this.$$.ptr;
        },
        deleteLater() {
          return this.$$.ptr || Ue(this), this.$$.deleteScheduled && !this.$$.preservePointerOnDelete && z("Object already scheduled for deletion"), H2.push(this), H2.length === 1 && Ye && Ye(Je), this.$$.deleteScheduled = true, this;
        }
      });
      let t3 = Symbol.dispose;
      t3 && (e3[t3] = e3.delete);
    };
    function U2() {
    }
    var Ze = (e3, t3) => Object.defineProperty(t3, "name", { value: e3 }), Qe = {}, $e = (e3, t3, n3) => {
      if (e3[t3].overloadTable === void 0) {
        var r3 = e3[t3];
        e3[t3] = function() {
          var r4 = [...arguments];
          return e3[t3].overloadTable.hasOwnProperty(r4.length) || z(`Function '${n3}' called with an invalid number of arguments (${r4.length}) - expects one of (${e3[t3].overloadTable})!`), e3[t3].overloadTable[r4.length].apply(this, r4);
        }, e3[t3].overloadTable = [], e3[t3].overloadTable[r3.argCount] = r3;
      }
    }, et = (e3, t3, n3) => {
      i2.hasOwnProperty(e3) ? ((n3 === void 0 || i2[e3].overloadTable !== void 0 && i2[e3].overloadTable[n3] !== void 0) && z(`Cannot register public name '${e3}' twice`), $e(i2, e3, e3), i2[e3].overloadTable.hasOwnProperty(n3) && z(`Cannot register multiple overloads of a function with the same number of arguments (${n3})!`), i2[e3].overloadTable[n3] = t3) : (i2[e3] = t3, i2[e3].argCount = n3);
    }, tt = 48, nt = 57, rt = (e3) => {
      e3 = e3.replace(/[^a-zA-Z0-9_]/g, "$");
      var t3 = e3.charCodeAt(0);
      return t3 >= tt && t3 <= nt ? `_${e3}` : e3;
    };
    function it(e3, t3, n3, r3, i3, a3, o3, s3) {
      this.name = e3, this.constructor = t3, this.instancePrototype = n3, this.rawDestructor = r3, this.baseClass = i3, this.getActualType = a3, this.upcast = o3, this.downcast = s3, this.pureVirtualFunctions = [];
    }
    var at = (e3, t3, n3) => {
      for (; t3 !== n3; ) t3.upcast || z(`Expected null or instance of ${n3.name}, got an instance of ${t3.name}`), e3 = t3.upcast(e3), t3 = t3.baseClass;
      return e3;
    }, ot = (e3) => {
      if (e3 === null) return "null";
      var t3 = typeof e3;
      return t3 === "object" || t3 === "array" || t3 === "function" ? e3.toString() : "" + e3;
    };
    function st(e3, t3) {
      if (t3 === null) return this.isReference && z(`null is not a valid ${this.name}`), 0;
      t3.$$ || z(`Cannot pass "${ot(t3)}" as a ${this.name}`), t3.$$.ptr || z(`Cannot pass deleted object as a pointer of type ${this.name}`);
      var n3 = t3.$$.ptrType.registeredClass;
      return at(t3.$$.ptr, n3, this.registeredClass);
    }
    function ct(e3, t3) {
      var n3;
      if (t3 === null) return this.isReference && z(`null is not a valid ${this.name}`), this.isSmartPointer ? (n3 = this.rawConstructor(), e3 !== null && e3.push(this.rawDestructor, n3), n3) : 0;
      (!t3 || !t3.$$) && z(`Cannot pass "${ot(t3)}" as a ${this.name}`), t3.$$.ptr || z(`Cannot pass deleted object as a pointer of type ${this.name}`), !this.isConst && t3.$$.ptrType.isConst && z(`Cannot convert argument of type ${t3.$$.smartPtrType ? t3.$$.smartPtrType.name : t3.$$.ptrType.name} to parameter type ${this.name}`);
      var r3 = t3.$$.ptrType.registeredClass;
      if (n3 = at(t3.$$.ptr, r3, this.registeredClass), this.isSmartPointer) switch (t3.$$.smartPtr === void 0 && z("Passing raw pointer to smart pointer is illegal"), this.sharingPolicy) {
        case 0:
          t3.$$.smartPtrType === this ? n3 = t3.$$.smartPtr : z(`Cannot convert argument of type ${t3.$$.smartPtrType ? t3.$$.smartPtrType.name : t3.$$.ptrType.name} to parameter type ${this.name}`);
          break;
        case 1:
          n3 = t3.$$.smartPtr;
          break;
        case 2:
          if (t3.$$.smartPtrType === this) n3 = t3.$$.smartPtr;
          else {
            var i3 = t3.clone();
            n3 = this.rawShare(n3, J2.toHandle(() => i3.delete())), e3 !== null && e3.push(this.rawDestructor, n3);
          }
          break;
        default:
          z("Unsupported sharing policy");
      }
      return n3;
    }
    function lt(e3, t3) {
      if (t3 === null) return this.isReference && z(`null is not a valid ${this.name}`), 0;
      t3.$$ || z(`Cannot pass "${ot(t3)}" as a ${this.name}`), t3.$$.ptr || z(`Cannot pass deleted object as a pointer of type ${this.name}`), t3.$$.ptrType.isConst && z(`Cannot convert argument of type ${t3.$$.ptrType.name} to parameter type ${this.name}`);
      var n3 = t3.$$.ptrType.registeredClass;
      return at(t3.$$.ptr, n3, this.registeredClass);
    }
    var ut = (e3, t3, n3) => {
      if (t3 === n3) return e3;
      if (n3.baseClass === void 0) return null;
      var r3 = ut(e3, t3, n3.baseClass);
      return r3 === null ? null : n3.downcast(r3);
    }, dt = {}, ft = (e3, t3) => {
      for (t3 === void 0 && z("ptr should not be undefined"); e3.baseClass; ) t3 = e3.upcast(t3), e3 = e3.baseClass;
      return t3;
    }, pt = (e3, t3) => (t3 = ft(e3, t3), dt[t3]), W2 = (e3, t3) => ((!t3.ptrType || !t3.ptr) && P2("makeClassHandle requires ptr and ptrType"), !!t3.smartPtrType != !!t3.smartPtr && P2("Both smartPtrType and smartPtr must be specified"), t3.count = { value: 1 }, V(Object.create(e3, { $$: {
      value: t3,
      writable: true
    } })));
    function mt(e3) {
      var t3 = this.getPointee(e3);
      if (!t3) return this.destructor(e3), null;
      var n3 = pt(this.registeredClass, t3);
      if (n3 !== void 0) {
        if (n3.$$.count.value === 0) return n3.$$.ptr = t3, n3.$$.smartPtr = e3, n3.clone();
        var r3 = n3.clone();
        return this.destructor(e3), r3;
      }
      function i3() {
        return this.isSmartPointer ? W2(this.registeredClass.instancePrototype, {
          ptrType: this.pointeeType,
          ptr: t3,
          smartPtrType: this,
          smartPtr: e3
        }) : W2(this.registeredClass.instancePrototype, {
          ptrType: this,
          ptr: e3
        });
      }
      var a3 = Qe[this.registeredClass.getActualType(t3)];
      if (!a3) return i3.call(this);
      var o3 = this.isConst ? a3.constPointerType : a3.pointerType, s3 = ut(t3, this.registeredClass, o3.registeredClass);
      return s3 === null ? i3.call(this) : this.isSmartPointer ? W2(o3.registeredClass.instancePrototype, {
        ptrType: o3,
        ptr: s3,
        smartPtrType: this,
        smartPtr: e3
      }) : W2(o3.registeredClass.instancePrototype, {
        ptrType: o3,
        ptr: s3
      });
    }
    var ht = () => {
      Object.assign(gt.prototype, {
        getPointee(e3) {
          return this.rawGetPointee && (e3 = this.rawGetPointee(e3)), e3;
        },
        destructor(e3) {
          var t3, n3;
          (t3 = (n3 = this).rawDestructor) == null || t3.call(n3, e3);
        },
        readValueFromPointer: A2,
        fromWireType: mt
      });
    };
    function gt(e3, t3, n3, r3, i3, a3, o3, s3, c3, l3, u3) {
      this.name = e3, this.registeredClass = t3, this.isReference = n3, this.isConst = r3, this.isSmartPointer = i3, this.pointeeType = a3, this.sharingPolicy = o3, this.rawGetPointee = s3, this.rawConstructor = c3, this.rawShare = l3, this.rawDestructor = u3, !i3 && t3.baseClass === void 0 ? r3 ? (this.toWireType = st, this.destructorFunction = null) : (this.toWireType = lt, this.destructorFunction = null) : this.toWireType = ct;
    }
    var _t = (e3, t3, n3) => {
      i2.hasOwnProperty(e3) || P2("Replacing nonexistent public symbol"), i2[e3].overloadTable !== void 0 && n3 !== void 0 ? i2[e3].overloadTable[n3] = t3 : (i2[e3] = t3, i2[e3].argCount = n3);
    }, vt = {}, yt = (e3, t3, n3) => {
      e3 = e3.replace(/p/g, "i");
      var r3 = vt[e3];
      return r3(t3, ...n3);
    }, bt = function(e3, t3) {
      let n3 = arguments.length > 2 && arguments[2] !== void 0 ? arguments[2] : [];
      if (arguments.length > 3 && arguments[3] !== void 0 && arguments[3], e3.includes("j")) return yt(e3, t3, n3);
      var r3 = w2(t3)(...n3);
      function i3(e4) {
        return e4;
      }
      return i3(r3);
    }, xt = function(e3, t3) {
      let n3 = arguments.length > 2 && arguments[2] !== void 0 && arguments[2];
      return function() {
        return bt(e3, t3, [...arguments], n3);
      };
    }, G2 = function(e3, t3) {
      arguments.length > 2 && arguments[2] !== void 0 && arguments[2], e3 = L2(e3);
      function n3() {
        return e3.includes("j") ? xt(e3, t3) : w2(t3);
      }
      var r3 = n3();
      return typeof r3 != "function" && z(`unknown function pointer with signature ${e3}: ${t3}`), r3;
    };
    class St extends Error {
    }
    var Ct = (e3) => {
      var t3 = Wn(e3), n3 = L2(t3);
      return Q2(t3), n3;
    }, K2 = (e3, t3) => {
      var n3 = [], r3 = {};
      function i3(e4) {
        if (!r3[e4] && !M2[e4]) {
          if (N2[e4]) {
            N2[e4].forEach(i3);
            return;
          }
          n3.push(e4), r3[e4] = true;
        }
      }
      throw t3.forEach(i3), new St(`${e3}: ` + n3.map(Ct).join([", "]));
    }, wt = (e3, t3, n3, r3, i3, a3, o3, s3, c3, l3, u3, d3, f3) => {
      u3 = L2(u3), a3 = G2(i3, a3), s3 && (s3 = G2(o3, s3)), l3 && (l3 = G2(c3, l3)), f3 = G2(d3, f3);
      var p3 = rt(u3);
      et(p3, function() {
        K2(`Cannot construct ${u3} due to unbound types`, [r3]);
      }), F2([
        e3,
        t3,
        n3
      ], r3 ? [r3] : [], (t4) => {
        t4 = t4[0];
        var n4, i4;
        r3 ? (n4 = t4.registeredClass, i4 = n4.instancePrototype) : i4 = U2.prototype;
        var o4 = Ze(u3, function() {
          var e4 = [...arguments];
          if (Object.getPrototypeOf(this) !== c4) throw new R2(`Use 'new' to construct ${u3}`);
          if (d4.constructor_body === void 0) throw new R2(`${u3} has no accessible constructor`);
          var t5 = d4.constructor_body[e4.length];
          if (t5 === void 0) throw new R2(`Tried to invoke ctor of ${u3} with invalid number of parameters (${e4.length}) - expected (${Object.keys(d4.constructor_body).toString()}) parameters instead!`);
          return t5.apply(this, e4);
        }), c4 = Object.create(i4, { constructor: { value: o4 } });
        o4.prototype = c4;
        var d4 = new it(u3, o4, c4, f3, n4, a3, s3, l3);
        if (d4.baseClass) {
          var m3;
          (m3 = d4.baseClass).__derivedClasses != null || (m3.__derivedClasses = []), d4.baseClass.__derivedClasses.push(d4);
        }
        var h3 = new gt(u3, d4, true, false, false), g3 = new gt(u3 + "*", d4, false, false, false), _3 = new gt(u3 + " const*", d4, false, true, false);
        return Qe[e3] = {
          pointerType: g3,
          constPointerType: _3
        }, _t(p3, o4), [
          h3,
          g3,
          _3
        ];
      });
    }, Tt = (e3, t3) => {
      for (var n3 = [], r3 = 0; r3 < e3; r3++) n3.push(E2[t3 + r3 * 4 >> 2]);
      return n3;
    };
    function Et(e3) {
      for (var t3 = 1; t3 < e3.length; ++t3) if (e3[t3] !== null && e3[t3].destructorFunction === void 0) return true;
      return false;
    }
    function Dt(e3) {
      for (var t3 = 1; t3 < e3.length; ++t3) if (e3[t3] !== null && e3[t3].argStackAlloc) return true;
      return false;
    }
    function Ot(e3, t3, n3, r3, i3, a3) {
      var o3 = t3.length;
      o3 < 2 && z("argTypes array size mismatch! Must at least get return value and receiver (this) types!");
      var s3 = t3[1] !== null && n3 !== null, c3 = Et(t3), l3 = Dt(t3), u3 = l3 && !a3 && !c3;
      l3 && !u3 && (c3 = true);
      var d3 = !t3[0].isVoid, f3 = o3 - 2, p3 = Array(f3), m3 = [], h3 = [];
      return Ze(e3, function() {
        var e4 = [...arguments];
        h3.length = 0;
        var n4;
        u3 && (n4 = C3());
        var a4, o4;
        try {
          m3.length = s3 ? 2 : 1, m3[0] = i3, s3 && (a4 = t3[1].toWireType(h3, this), m3[1] = a4);
          for (var l4 = 0; l4 < f3; ++l4) {
            var g3 = t3[l4 + 2];
            p3[l4] = g3.toWireType(u3 && g3.argStackAlloc ? null : h3, e4[l4]), m3.push(p3[l4]);
          }
          o4 = r3(...m3);
        } finally {
          u3 && S2(n4);
        }
        function _3(e5) {
          if (c3) Pe(h3);
          else for (var n5 = s3 ? 1 : 2; n5 < t3.length; n5++) {
            var r4 = n5 === 1 ? a4 : p3[n5 - 2];
            t3[n5].destructorFunction !== null && t3[n5].destructorFunction(r4);
          }
          if (d3) return t3[0].fromWireType(e5);
        }
        return _3(o4);
      });
    }
    var kt = (e3, t3, n3, r3, i3, a3) => {
      var o3 = Tt(t3, n3);
      i3 = G2(r3, i3), F2([], [e3], (e4) => {
        e4 = e4[0];
        var n4 = `constructor ${e4.name}`;
        if (e4.registeredClass.constructor_body === void 0 && (e4.registeredClass.constructor_body = []), e4.registeredClass.constructor_body[t3 - 1] !== void 0) throw new R2(`Cannot register multiple constructors with identical number of parameters (${t3 - 1}) for class '${e4.name}'! Overload resolution is currently only performed using the parameter count, not actual type info!`);
        return e4.registeredClass.constructor_body[t3 - 1] = () => {
          K2(`Cannot construct ${e4.name} due to unbound types`, o3);
        }, F2([], o3, (r4) => (r4.splice(1, 0, null), e4.registeredClass.constructor_body[t3 - 1] = Ot(n4, r4, null, i3, a3), [])), [];
      });
    }, At = (e3) => {
      e3 = e3.trim();
      let t3 = e3.indexOf("(");
      return t3 === -1 ? e3 : e3.slice(0, t3);
    }, jt = (e3, t3, n3, r3, i3, a3, o3, s3, c3, l3) => {
      var u3 = Tt(n3, r3);
      t3 = L2(t3), t3 = At(t3), a3 = G2(i3, a3, c3), F2([], [e3], (e4) => {
        e4 = e4[0];
        var r4 = `${e4.name}.${t3}`;
        t3.startsWith("@@") && (t3 = Symbol[t3.substring(2)]), s3 && e4.registeredClass.pureVirtualFunctions.push(t3);
        function i4() {
          K2(`Cannot call ${r4} due to unbound types`, u3);
        }
        var l4 = e4.registeredClass.instancePrototype, d3 = l4[t3];
        return d3 === void 0 || d3.overloadTable === void 0 && d3.className !== e4.name && d3.argCount === n3 - 2 ? (i4.argCount = n3 - 2, i4.className = e4.name, l4[t3] = i4) : ($e(l4, t3, r4), l4[t3].overloadTable[n3 - 2] = i4), F2([], u3, (i5) => {
          var s4 = Ot(r4, i5, e4, a3, o3, c3);
          return l4[t3].overloadTable === void 0 ? (s4.argCount = n3 - 2, l4[t3] = s4) : l4[t3].overloadTable[n3 - 2] = s4, [];
        }), [];
      });
    }, Mt = [], q2 = [
      0,
      1,
      ,
      1,
      null,
      1,
      true,
      1,
      false,
      1
    ], Nt = [], Pt = (e3) => {
      if (e3 > 9 && --q2[e3 + 1] === 0) {
        var t3 = q2[e3];
        q2[e3] = void 0;
        var n3 = Nt[e3];
        n3 && (Nt[e3] = void 0, n3(t3)), Mt.push(e3);
      }
    }, J2 = {
      toValue: (e3) => (e3 || z(`Cannot use deleted val. handle = ${e3}`), q2[e3]),
      toHandle: (e3) => {
        switch (e3) {
          case void 0:
            return 2;
          case null:
            return 4;
          case true:
            return 6;
          case false:
            return 8;
          default: {
            let t3 = Mt.pop() || q2.length;
            return q2[t3] = e3, q2[t3 + 1] = 1, t3;
          }
        }
      }
    }, Ft = {
      name: "emscripten::val",
      fromWireType: (e3) => {
        var t3 = J2.toValue(e3);
        return Pt(e3), t3;
      },
      toWireType: (e3, t3) => J2.toHandle(t3),
      readValueFromPointer: A2,
      destructorFunction: null
    }, It = (e3) => B2(e3, Ft), Lt, Rt, zt = (e3, t3) => {
      switch (t3) {
        case 4:
          return function(e4) {
            return this.fromWireType(Lt[e4 >> 2]);
          };
        case 8:
          return function(e4) {
            return this.fromWireType(Rt[e4 >> 3]);
          };
        default:
          throw TypeError(`invalid float width (${t3}): ${e3}`);
      }
    }, Bt = (e3, t3, n3) => {
      t3 = L2(t3), B2(e3, {
        name: t3,
        fromWireType: (e4) => e4,
        toWireType: (e4, t4) => t4,
        readValueFromPointer: zt(t3, n3),
        destructorFunction: null
      });
    }, Vt = (e3, t3, n3, r3, i3, a3, o3, s3) => {
      var c3 = Tt(t3, n3);
      e3 = L2(e3), e3 = At(e3), i3 = G2(r3, i3, o3), et(e3, function() {
        K2(`Cannot call ${e3} due to unbound types`, c3);
      }, t3 - 1), F2([], c3, (n4) => {
        var r4 = [n4[0], null].concat(n4.slice(1));
        return _t(e3, Ot(e3, r4, null, i3, a3, o3), t3 - 1), [];
      });
    }, Ht, Y2, Ut, Wt = (e3, t3, n3) => {
      switch (t3) {
        case 1:
          return n3 ? (e4) => y2[e4] : (e4) => I2[e4];
        case 2:
          return n3 ? (e4) => Ht[e4 >> 1] : (e4) => Y2[e4 >> 1];
        case 4:
          return n3 ? (e4) => Ut[e4 >> 2] : (e4) => E2[e4 >> 2];
        default:
          throw TypeError(`invalid integer width (${t3}): ${e3}`);
      }
    }, Gt = (e3, t3, n3, r3, i3) => {
      t3 = L2(t3);
      let a3 = r3 === 0, o3 = (e4) => e4;
      if (a3) {
        var s3 = 32 - 8 * n3;
        o3 = (e4) => e4 << s3 >>> s3, i3 = o3(i3);
      }
      B2(e3, {
        name: t3,
        fromWireType: o3,
        toWireType: (e4, t4) => t4,
        readValueFromPointer: Wt(t3, n3, r3 !== 0),
        destructorFunction: null
      });
    }, Kt = (e3, t3, n3) => {
      let r3 = (e4, t4) => {
        let n4 = 0;
        return {
          next() {
            if (n4 >= e4) return { done: true };
            let r4 = n4;
            return n4++, {
              value: t4(r4),
              done: false
            };
          },
          [Symbol.iterator]() {
            return this;
          }
        };
      };
      e3[Symbol.iterator] || (e3[Symbol.iterator] = function() {
        let e4 = this[t3]();
        return r3(e4, (e5) => this[n3](e5));
      });
    }, qt = (e3, t3, n3, r3) => {
      n3 = L2(n3), r3 = L2(r3), F2([], [e3, t3], (e4) => {
        let t4 = e4[0];
        return Kt(t4.registeredClass.instancePrototype, n3, r3), [];
      });
    }, Jt = (e3, t3, n3) => {
      var r3 = [
        Int8Array,
        Uint8Array,
        Int16Array,
        Uint16Array,
        Int32Array,
        Uint32Array,
        Float32Array,
        Float64Array
      ][t3];
      function i3(e4) {
        var t4 = E2[e4 >> 2], n4 = E2[e4 + 4 >> 2];
        return new r3(y2.buffer, n4, t4);
      }
      n3 = L2(n3), B2(e3, {
        name: n3,
        fromWireType: i3,
        readValueFromPointer: i3
      }, { ignoreDuplicateRegistrations: true });
    }, Yt = Object.assign({ optional: true }, Ft), Xt = (e3, t3) => {
      B2(e3, Yt);
    }, Zt = (e3, t3, n3, r3) => {
      if (!(r3 > 0)) return 0;
      for (var i3 = n3, a3 = n3 + r3 - 1, o3 = 0; o3 < e3.length; ++o3) {
        var s3 = e3.codePointAt(o3);
        if (s3 <= 127) {
          if (n3 >= a3) break;
          t3[n3++] = s3;
        } else if (s3 <= 2047) {
          if (n3 + 1 >= a3) break;
          t3[n3++] = 192 | s3 >> 6, t3[n3++] = 128 | s3 & 63;
        } else if (s3 <= 65535) {
          if (n3 + 2 >= a3) break;
          t3[n3++] = 224 | s3 >> 12, t3[n3++] = 128 | s3 >> 6 & 63, t3[n3++] = 128 | s3 & 63;
        } else {
          if (n3 + 3 >= a3) break;
          t3[n3++] = 240 | s3 >> 18, t3[n3++] = 128 | s3 >> 12 & 63, t3[n3++] = 128 | s3 >> 6 & 63, t3[n3++] = 128 | s3 & 63, o3++;
        }
      }
      return t3[n3] = 0, n3 - i3;
    }, Qt = (e3, t3, n3) => Zt(e3, I2, t3, n3), $t = (e3) => {
      for (var t3 = 0, n3 = 0; n3 < e3.length; ++n3) {
        var r3 = e3.charCodeAt(n3);
        r3 <= 127 ? t3++ : r3 <= 2047 ? t3 += 2 : r3 >= 55296 && r3 <= 57343 ? (t3 += 4, ++n3) : t3 += 3;
      }
      return t3;
    }, en = globalThis.TextDecoder && new TextDecoder(), tn = (e3, t3, n3, r3) => {
      var i3 = t3 + n3;
      if (r3) return i3;
      for (; e3[t3] && !(t3 >= i3); ) ++t3;
      return t3;
    }, nn = function(e3) {
      let t3 = arguments.length > 1 && arguments[1] !== void 0 ? arguments[1] : 0, n3 = arguments.length > 2 ? arguments[2] : void 0, r3 = arguments.length > 3 ? arguments[3] : void 0;
      var i3 = tn(e3, t3, n3, r3);
      if (i3 - t3 > 16 && e3.buffer && en) return en.decode(e3.subarray(t3, i3));
      for (var a3 = ""; t3 < i3; ) {
        var o3 = e3[t3++];
        if (!(o3 & 128)) {
          a3 += String.fromCharCode(o3);
          continue;
        }
        var s3 = e3[t3++] & 63;
        if ((o3 & 224) == 192) {
          a3 += String.fromCharCode((o3 & 31) << 6 | s3);
          continue;
        }
        var c3 = e3[t3++] & 63;
        if (o3 = (o3 & 240) == 224 ? (o3 & 15) << 12 | s3 << 6 | c3 : (o3 & 7) << 18 | s3 << 12 | c3 << 6 | e3[t3++] & 63, o3 < 65536) a3 += String.fromCharCode(o3);
        else {
          var l3 = o3 - 65536;
          a3 += String.fromCharCode(55296 | l3 >> 10, 56320 | l3 & 1023);
        }
      }
      return a3;
    }, rn = (e3, t3, n3) => e3 ? nn(I2, e3, t3, n3) : "", an = (e3, t3) => {
      t3 = L2(t3);
      var n3 = true;
      B2(e3, {
        name: t3,
        fromWireType(e4) {
          var t4 = E2[e4 >> 2], r3 = e4 + 4, i3;
          if (n3) i3 = rn(r3, t4, true);
          else {
            i3 = "";
            for (var a3 = 0; a3 < t4; ++a3) i3 += String.fromCharCode(I2[r3 + a3]);
          }
          return Q2(e4), i3;
        },
        toWireType(e4, t4) {
          t4 instanceof ArrayBuffer && (t4 = new Uint8Array(t4));
          var r3, i3 = typeof t4 == "string";
          i3 || ArrayBuffer.isView(t4) && t4.BYTES_PER_ELEMENT == 1 || z("Cannot pass non-string to std::string"), r3 = n3 && i3 ? $t(t4) : t4.length;
          var a3 = Gn(4 + r3 + 1), o3 = a3 + 4;
          if (E2[a3 >> 2] = r3, i3) {
            if (n3) Qt(t4, o3, r3 + 1);
            else for (var s3 = 0; s3 < r3; ++s3) {
              var c3 = t4.charCodeAt(s3);
              c3 > 255 && (Q2(a3), z("String has UTF-16 code units that do not fit in 8 bits")), I2[o3 + s3] = c3;
            }
          } else I2.set(t4, o3);
          return e4 !== null && e4.push(Q2, a3), a3;
        },
        readValueFromPointer: A2,
        destructorFunction(e4) {
          Q2(e4);
        }
      });
    }, on = globalThis.TextDecoder ? new TextDecoder("utf-16le") : void 0, sn = (e3, t3, n3) => {
      var r3 = e3 >> 1, i3 = tn(Y2, r3, t3 / 2, n3);
      if (i3 - r3 > 16 && on) return on.decode(Y2.subarray(r3, i3));
      for (var a3 = "", o3 = r3; o3 < i3; ++o3) {
        var s3 = Y2[o3];
        a3 += String.fromCharCode(s3);
      }
      return a3;
    }, cn = function(e3, t3) {
      let n3 = arguments.length > 2 && arguments[2] !== void 0 ? arguments[2] : 2147483647;
      if (n3 < 2) return 0;
      n3 -= 2;
      for (var r3 = t3, i3 = n3 < e3.length * 2 ? n3 / 2 : e3.length, a3 = 0; a3 < i3; ++a3) {
        var o3 = e3.charCodeAt(a3);
        Ht[t3 >> 1] = o3, t3 += 2;
      }
      return Ht[t3 >> 1] = 0, t3 - r3;
    }, ln = (e3) => e3.length * 2, un = (e3, t3, n3) => {
      for (var r3 = "", i3 = e3 >> 2, a3 = 0; !(a3 >= t3 / 4); a3++) {
        var o3 = E2[i3 + a3];
        if (!o3 && !n3) break;
        r3 += String.fromCodePoint(o3);
      }
      return r3;
    }, dn = function(e3, t3) {
      let n3 = arguments.length > 2 && arguments[2] !== void 0 ? arguments[2] : 2147483647;
      if (n3 < 4) return 0;
      for (var r3 = t3, i3 = r3 + n3 - 4, a3 = 0; a3 < e3.length; ++a3) {
        var o3 = e3.codePointAt(a3);
        if (o3 > 65535 && a3++, Ut[t3 >> 2] = o3, t3 += 4, t3 + 4 > i3) break;
      }
      return Ut[t3 >> 2] = 0, t3 - r3;
    }, fn = (e3) => {
      for (var t3 = 0, n3 = 0; n3 < e3.length; ++n3) e3.codePointAt(n3) > 65535 && n3++, t3 += 4;
      return t3;
    }, pn = (e3, t3, n3) => {
      n3 = L2(n3);
      var r3, i3, a3;
      t3 === 2 ? (r3 = sn, i3 = cn, a3 = ln) : (r3 = un, i3 = dn, a3 = fn), B2(e3, {
        name: n3,
        fromWireType: (e4) => {
          var n4 = E2[e4 >> 2], i4 = r3(e4 + 4, n4 * t3, true);
          return Q2(e4), i4;
        },
        toWireType: (e4, r4) => {
          typeof r4 != "string" && z(`Cannot pass non-string to C++ string type ${n3}`);
          var o3 = a3(r4), s3 = Gn(4 + o3 + t3);
          return E2[s3 >> 2] = o3 / t3, i3(r4, s3 + 4, o3 + t3), e4 !== null && e4.push(Q2, s3), s3;
        },
        readValueFromPointer: A2,
        destructorFunction(e4) {
          Q2(e4);
        }
      });
    }, mn = (e3, t3, n3, r3, i3, a3, o3, s3) => {
      k2[e3] = {
        name: L2(t3),
        rawConstructor: G2(n3, r3),
        rawDestructor: G2(i3, a3),
        valueSize: o3,
        isTrivial: !!s3,
        fields: []
      };
    }, hn = (e3, t3, n3, r3, i3, a3, o3, s3, c3, l3) => {
      k2[e3].fields.push({
        fieldName: L2(t3),
        getterReturnType: n3,
        getter: G2(r3, i3),
        getterContext: a3,
        setterArgumentType: o3,
        setter: G2(s3, c3),
        setterContext: l3
      });
    }, gn = (e3, t3) => {
      t3 = L2(t3), B2(e3, {
        isVoid: true,
        name: t3,
        fromWireType: () => void 0,
        toWireType: (e4, t4) => void 0
      });
    }, _n = 0, vn = () => {
      _e = false, _n = 0;
    }, yn = [], bn = (e3) => {
      var t3 = yn.length;
      return yn.push(e3), t3;
    }, xn = (e3, t3) => {
      var n3 = M2[e3];
      return n3 === void 0 && z(`${t3} has unknown type ${Ct(e3)}`), n3;
    }, Sn = (e3, t3) => {
      for (var n3 = Array(e3), r3 = 0; r3 < e3; ++r3) n3[r3] = xn(E2[t3 + r3 * 4 >> 2], `parameter ${r3}`);
      return n3;
    }, Cn = (e3, t3, n3) => {
      var r3 = [], i3 = e3(r3, n3);
      return r3.length && (E2[t3 >> 2] = J2.toHandle(r3)), i3;
    }, wn = {}, Tn = (e3) => {
      var t3 = wn[e3];
      return t3 === void 0 ? L2(e3) : t3;
    }, En = (e3, t3, n3) => {
      var [r3, ...i3] = Sn(e3, t3), a3 = r3.toWireType.bind(r3), o3 = i3.map((e4) => e4.readValueFromPointer.bind(e4));
      e3--;
      var s3 = Array(e3);
      return bn(Ze(`methodCaller<(${i3.map((e4) => e4.name)}) => ${r3.name}>`, (t4, r4, i4, c3) => {
        for (var l3 = 0, u3 = 0; u3 < e3; ++u3) s3[u3] = o3[u3](c3 + l3), l3 += 8;
        var d3;
        switch (n3) {
          case 0:
            d3 = J2.toValue(t4).apply(null, s3);
            break;
          case 2:
            d3 = Reflect.construct(J2.toValue(t4), s3);
            break;
          case 3:
            d3 = s3[0];
            break;
          case 1:
            d3 = J2.toValue(t4)[Tn(r4)](...s3);
        }
        return Cn(a3, i4, d3);
      }));
    }, Dn = (e3) => e3 ? (e3 = Tn(e3), J2.toHandle(globalThis[e3])) : J2.toHandle(globalThis), On = (e3) => {
      e3 > 9 && (q2[e3 + 1] += 1);
    }, kn = (e3, t3, n3, r3, i3) => yn[e3](t3, n3, r3, i3), An = (e3) => {
      Pe(J2.toValue(e3)), Pt(e3);
    }, X2 = {}, jn = (e3) => {
      if (e3 instanceof me || e3 == "unwind") return g2;
      s2(1, e3);
    }, Mn = () => _e || _n > 0, Nn = (e3) => {
      if (g2 = e3, !Mn()) {
        var t3;
        (t3 = i2.onExit) == null || t3.call(i2, e3), h2 = true;
      }
      s2(e3, new me(e3));
    }, Pn = (e3, t3) => {
      g2 = e3, Nn(e3);
    }, Fn = () => {
      if (!Mn()) try {
        Pn(g2);
      } catch (e3) {
        jn(e3);
      }
    }, In = function(e3) {
      var t3 = [...arguments].slice(1);
      if (!h2) try {
        return e3(...t3);
      } catch (e4) {
        jn(e4);
      } finally {
        Fn();
      }
    }, Ln = () => performance.now(), Rn = (e3, t3) => (X2[e3] && (clearTimeout(X2[e3].id), delete X2[e3]), t3 && (X2[e3] = {
      id: setTimeout(() => {
        delete X2[e3], In(qn, e3, Ln());
      }, t3),
      timeout_ms: t3
    }), 0), zn = () => 2147483648, Bn = (e3, t3) => Math.ceil(e3 / t3) * t3, Vn = (e3) => {
      var t3 = (e3 - nr.buffer.byteLength + 65535) / 65536 | 0;
      try {
        return nr.grow(t3), ne(), 1;
      } catch {
      }
    }, Hn = (e3) => {
      var t3 = I2.length;
      e3 >>>= 0;
      var n3 = zn();
      if (e3 > n3) return false;
      for (var r3 = 1; r3 <= 4; r3 *= 2) {
        var i3 = t3 * (1 + 0.2 / r3);
        if (i3 = Math.min(i3, e3 + 100663296), Vn(Math.min(n3, Bn(Math.max(e3, i3), 65536)))) return true;
      }
      return false;
    }, Un = (e3) => e3;
    Xe(), ht(), i2.noExitRuntime && (_e = i2.noExitRuntime), i2.print && i2.print, i2.printErr && (p2 = i2.printErr), i2.wasmBinary && (m2 = i2.wasmBinary), i2.arguments && i2.arguments, i2.thisProgram && i2.thisProgram;
    var Z = i2.preInit;
    if (Z) for (typeof Z == "function" && (i2.preInit = Z = [Z]); Z.length > 0; ) Z.shift()();
    var Wn, Gn, Q2, Kn, qn, $2, Jn, Yn, Xn, Zn, Qn, $n, er, tr, nr, rr;
    function ir(e3) {
      Wn = e3.sa, Gn = i2._malloc = e3.ta, Q2 = i2._free = e3.ua, Kn = e3.va, qn = e3.xa, $2 = e3.ya, Jn = e3.za, Yn = e3.Aa, Xn = e3.Ba, Zn = e3.Ca, Qn = e3.Da, $n = e3.Ea, er = e3.Fa, tr = vt.iiij = e3.Ga, nr = e3.qa, rr = e3.wa;
    }
    var ar = {
      aa: ye,
      v: Se,
      I: Ce,
      a: Te,
      i: Ee,
      l: De,
      fa: ke,
      s: Ae,
      e: Me,
      ea: Ne,
      T: Re,
      W: ze,
      ia: Ve,
      pa: wt,
      oa: kt,
      E: jt,
      ga: It,
      Q: Bt,
      R: Vt,
      y: Gt,
      ka: qt,
      u: Jt,
      S: Xt,
      ha: an,
      L: pn,
      C: mn,
      U: hn,
      ja: gn,
      da: vn,
      na: En,
      ba: Pt,
      B: Dn,
      P: On,
      ma: kn,
      la: An,
      _: Rn,
      $: Hn,
      Z: Tr,
      N: Or,
      A: mr,
      b: sr,
      z: Dr,
      g: cr,
      D: wr,
      h: pr,
      k: xr,
      o: br,
      K: Er,
      O: Cr,
      H: fr,
      G: Mr,
      V: Ir,
      c: ur,
      j: or,
      X: Nr,
      f: dr,
      M: Ar,
      J: Fr,
      d: lr,
      F: Pr,
      m: gr,
      Y: jr,
      n: yr,
      t: vr,
      x: Sr,
      q: _r,
      r: kr,
      p: hr,
      w: Un,
      ca: Nn
    };
    function or(e3, t3) {
      var n3 = C3();
      try {
        w2(e3)(t3);
      } catch (e4) {
        if (S2(n3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function sr(e3, t3) {
      var n3 = C3();
      try {
        return w2(e3)(t3);
      } catch (e4) {
        if (S2(n3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function cr(e3, t3, n3) {
      var r3 = C3();
      try {
        return w2(e3)(t3, n3);
      } catch (e4) {
        if (S2(r3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function lr(e3, t3, n3, r3) {
      var i3 = C3();
      try {
        w2(e3)(t3, n3, r3);
      } catch (e4) {
        if (S2(i3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function ur(e3) {
      var t3 = C3();
      try {
        w2(e3)();
      } catch (e4) {
        if (S2(t3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function dr(e3, t3, n3) {
      var r3 = C3();
      try {
        w2(e3)(t3, n3);
      } catch (e4) {
        if (S2(r3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function fr(e3, t3, n3, r3, i3, a3, o3, s3) {
      var c3 = C3();
      try {
        return w2(e3)(t3, n3, r3, i3, a3, o3, s3);
      } catch (e4) {
        if (S2(c3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function pr(e3, t3, n3, r3) {
      var i3 = C3();
      try {
        return w2(e3)(t3, n3, r3);
      } catch (e4) {
        if (S2(i3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function mr(e3, t3, n3, r3, i3, a3) {
      var o3 = C3();
      try {
        return w2(e3)(t3, n3, r3, i3, a3);
      } catch (e4) {
        if (S2(o3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function hr(e3, t3, n3, r3, i3, a3, o3, s3, c3, l3, u3) {
      var d3 = C3();
      try {
        w2(e3)(t3, n3, r3, i3, a3, o3, s3, c3, l3, u3);
      } catch (e4) {
        if (S2(d3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function gr(e3, t3, n3, r3, i3) {
      var a3 = C3();
      try {
        w2(e3)(t3, n3, r3, i3);
      } catch (e4) {
        if (S2(a3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function _r(e3, t3, n3, r3, i3, a3, o3, s3, c3) {
      var l3 = C3();
      try {
        w2(e3)(t3, n3, r3, i3, a3, o3, s3, c3);
      } catch (e4) {
        if (S2(l3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function vr(e3, t3, n3, r3, i3, a3, o3) {
      var s3 = C3();
      try {
        w2(e3)(t3, n3, r3, i3, a3, o3);
      } catch (e4) {
        if (S2(s3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function yr(e3, t3, n3, r3, i3, a3) {
      var o3 = C3();
      try {
        w2(e3)(t3, n3, r3, i3, a3);
      } catch (e4) {
        if (S2(o3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function br(e3, t3, n3, r3, i3, a3) {
      var o3 = C3();
      try {
        return w2(e3)(t3, n3, r3, i3, a3);
      } catch (e4) {
        if (S2(o3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function xr(e3, t3, n3, r3, i3) {
      var a3 = C3();
      try {
        return w2(e3)(t3, n3, r3, i3);
      } catch (e4) {
        if (S2(a3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Sr(e3, t3, n3, r3, i3, a3, o3, s3) {
      var c3 = C3();
      try {
        w2(e3)(t3, n3, r3, i3, a3, o3, s3);
      } catch (e4) {
        if (S2(c3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Cr(e3, t3, n3, r3, i3, a3, o3) {
      var s3 = C3();
      try {
        return w2(e3)(t3, n3, r3, i3, a3, o3);
      } catch (e4) {
        if (S2(s3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function wr(e3, t3, n3, r3, i3) {
      var a3 = C3();
      try {
        return w2(e3)(t3, n3, r3, i3);
      } catch (e4) {
        if (S2(a3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Tr(e3, t3, n3) {
      var r3 = C3();
      try {
        return w2(e3)(t3, n3);
      } catch (e4) {
        if (S2(r3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Er(e3, t3, n3, r3, i3, a3, o3) {
      var s3 = C3();
      try {
        return w2(e3)(t3, n3, r3, i3, a3, o3);
      } catch (e4) {
        if (S2(s3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Dr(e3, t3, n3, r3) {
      var i3 = C3();
      try {
        return w2(e3)(t3, n3, r3);
      } catch (e4) {
        if (S2(i3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Or(e3, t3, n3, r3) {
      var i3 = C3();
      try {
        return w2(e3)(t3, n3, r3);
      } catch (e4) {
        if (S2(i3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function kr(e3, t3, n3, r3, i3, a3, o3, s3, c3, l3) {
      var u3 = C3();
      try {
        w2(e3)(t3, n3, r3, i3, a3, o3, s3, c3, l3);
      } catch (e4) {
        if (S2(u3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Ar(e3, t3, n3, r3, i3, a3, o3, s3, c3) {
      var l3 = C3();
      try {
        w2(e3)(t3, n3, r3, i3, a3, o3, s3, c3);
      } catch (e4) {
        if (S2(l3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function jr(e3, t3, n3, r3, i3, a3, o3, s3) {
      var c3 = C3();
      try {
        w2(e3)(t3, n3, r3, i3, a3, o3, s3);
      } catch (e4) {
        if (S2(c3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Mr(e3, t3, n3, r3, i3, a3, o3, s3, c3) {
      var l3 = C3();
      try {
        return w2(e3)(t3, n3, r3, i3, a3, o3, s3, c3);
      } catch (e4) {
        if (S2(l3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Nr(e3, t3, n3) {
      var r3 = C3();
      try {
        w2(e3)(t3, n3);
      } catch (e4) {
        if (S2(r3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Pr(e3, t3, n3, r3, i3, a3, o3) {
      var s3 = C3();
      try {
        w2(e3)(t3, n3, r3, i3, a3, o3);
      } catch (e4) {
        if (S2(s3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Fr(e3, t3, n3, r3, i3) {
      var a3 = C3();
      try {
        w2(e3)(t3, n3, r3, i3);
      } catch (e4) {
        if (S2(a3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    function Ir(e3, t3, n3, r3, i3) {
      var a3 = C3();
      try {
        return tr(e3, t3, n3, r3, i3);
      } catch (e4) {
        if (S2(a3), !(e4 instanceof _2)) throw e4;
        $2(1, 0);
      }
    }
    async function Lr() {
      var e3;
      re();
      var t3 = i2.setStatus;
      t3 && (t3("Running..."), await new Promise((e4) => setTimeout(e4, 1)), setTimeout(t3, 1, "")), !h2 && (ie(), (e3 = i2.onRuntimeInitialized) == null || e3.call(i2), ae());
    }
    var Rr = await pe();
    return await Lr(), i2;
  }
  function x2(e2) {
    return J(b2, e2);
  }
  async function C2(e2, t2) {
    return X(b2, e2, t2);
  }

  // src/shared/decode.ts
  var OPTIONS = {
    formats: ["QRCode"],
    tryHarder: true,
    tryRotate: true,
    tryInvert: true,
    tryDownscale: true,
    maxNumberOfSymbols: 8
  };
  var SMALL_PX = 400;
  var configured = false;
  var silent = () => void 0;
  function configureDecoder(setup) {
    const overrides = "wasmBinary" in setup ? { wasmBinary: setup.wasmBinary, locateFile: (file) => file } : { locateFile: setup.locateFile };
    x2({ overrides: { ...overrides, print: silent, printErr: silent } });
    configured = true;
  }
  function enlarge(img, factor) {
    const width = img.width * factor;
    const height = img.height * factor;
    const source = new Uint32Array(img.data.buffer, img.data.byteOffset, img.data.byteLength / 4);
    const data = new Uint8ClampedArray(width * height * 4);
    const target = new Uint32Array(data.buffer);
    for (let y2 = 0; y2 < height; y2++) {
      const row = Math.floor(y2 / factor) * img.width;
      for (let x3 = 0; x3 < width; x3++) target[y2 * width + x3] = source[row + Math.floor(x3 / factor)];
    }
    return { width, height, data };
  }
  async function decodeQr(img) {
    if (!configured) throw new Error("configureDecoder() first: the decoder must not fetch its .wasm from a CDN");
    const read = async (pixels) => (await C2(pixels, OPTIONS)).filter((r2) => r2.isValid).map((r2) => r2.text);
    let texts = await read(img);
    if (texts.length === 0 && Math.max(img.width, img.height) < SMALL_PX) texts = await read(enlarge(img, 2));
    return [...new Set(texts)];
  }

  // src/shared/gateway.ts
  var GatewayError = class extends Error {
    constructor(kind, message, status = null, retryAfter = null) {
      super(message);
      this.kind = kind;
      this.status = status;
      this.retryAfter = retryAfter;
      this.name = "GatewayError";
    }
    kind;
    status;
    retryAfter;
    /** Worth trying the same request again later. */
    get transient() {
      return ["network", "timeout", "rate-limited", "unavailable", "conflict"].includes(this.kind);
    }
  };
  var SLUG = /\/problems\/([a-z-]+)$/;
  function slugOf(problem) {
    const match = problem?.type ? SLUG.exec(problem.type) : null;
    return match?.[1] ?? null;
  }
  function parseRetryAfter(value, now = Date.now()) {
    if (value === null) return null;
    const text = value.trim();
    if (/^\d+$/.test(text)) return Math.max(1, Number(text));
    const date = Date.parse(text);
    if (Number.isNaN(date)) return null;
    return Math.max(1, Math.ceil((date - now) / 1e3));
  }
  function describeNetError(code, origin) {
    if (code === null) {
      return {
        kind: "network",
        message: `Could not reach ${origin}: the gateway is down, the address is wrong, or its TLS certificate is not trusted by this browser`
      };
    }
    if (/ERR_(CERT|SSL)_|ERR_BAD_SSL|ERR_CERTIFICATE/.test(code) || code.includes("ERR_TLS")) {
      return {
        kind: "tls",
        message: `TLS error talking to ${origin} (${code}): this browser does not trust the gateway's certificate. Use a certificate from a public CA, or install the gateway's CA in the system's trust store`
      };
    }
    if (code.includes("ERR_NAME_NOT_RESOLVED") || code.includes("ERR_NAME_RESOLUTION_FAILED")) {
      return { kind: "network", message: `Wrong gateway URL: the host name of ${origin} does not resolve (${code})` };
    }
    if (code.includes("ERR_CONNECTION_REFUSED")) {
      return {
        kind: "network",
        message: `Nothing answers at ${origin} (${code}): wrong port, or the gateway is not running`
      };
    }
    if (code.includes("ERR_UNSAFE_PORT")) {
      return { kind: "network", message: `Chrome refuses to connect to the port of ${origin} (${code})` };
    }
    if (code.includes("TIMED_OUT") || code.includes("ERR_ADDRESS_UNREACHABLE")) {
      return { kind: "timeout", message: `${origin} did not answer in time (${code})` };
    }
    if (code.includes("ERR_INTERNET_DISCONNECTED")) {
      return { kind: "network", message: `This computer is offline (${code})` };
    }
    return { kind: "network", message: `Network error talking to ${origin} (${code})` };
  }
  var GatewayClient = class {
    baseUrl;
    origin;
    apiKey;
    fetchImpl;
    timeoutMs;
    netError;
    extensionOrigin;
    constructor(options) {
      this.baseUrl = options.baseUrl.replace(/\/+$/, "");
      this.origin = new URL(this.baseUrl).origin;
      this.apiKey = options.apiKey;
      this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
      this.timeoutMs = options.timeoutMs ?? 15e3;
      this.netError = options.netError ?? (() => null);
      this.extensionOrigin = options.extensionOrigin ?? "chrome-extension://<this extension's id>";
    }
    /** GET /health: resolves when the gateway answers 200 {"status": "ok"}. */
    async health() {
      const url = `${this.baseUrl}/health`;
      const response = await this.send(url, { method: "GET" });
      const body = await readJson(response);
      if (response.status === 200 && isObject(body) && body["status"] === "ok") return;
      if (response.status === 503 && isObject(body) && typeof body["status"] === "string") {
        throw new GatewayError(
          "unavailable",
          "The gateway answers but is not ready (503): its broker is unreachable or it is shutting down",
          503
        );
      }
      throw new GatewayError(
        "not-gateway",
        `Wrong gateway URL: ${url} answered HTTP ${response.status}, not a payment QR gateway's health check`,
        response.status
      );
    }
    /** POST /api/token/generate: a new viewer session. */
    async createSession() {
      const url = `${this.baseUrl}/api/token/generate`;
      const response = await this.send(url, { method: "POST", headers: { "X-API-Key": this.apiKey } });
      const body = await readJson(response);
      if (response.status === 201 && isSession(body)) {
        return {
          token: body.token,
          url: body.url,
          wsUrl: body.wsUrl,
          sessionId: body.sessionId,
          expiresAt: body.expiresAt
        };
      }
      throw this.failure(response, body, "creating a viewer session");
    }
    /** POST /api/payment. */
    async publish(token, data, idempotencyKey) {
      return this.post("/api/payment", { token, data }, idempotencyKey, "publishing the payment");
    }
    /** POST /api/payment/clear. */
    async clear(token, reason, idempotencyKey) {
      return this.post("/api/payment/clear", { token, reason }, idempotencyKey, "clearing the screen");
    }
    async post(path, body, idempotencyKey, doing) {
      const response = await this.send(`${this.baseUrl}${path}`, {
        method: "POST",
        headers: {
          "X-API-Key": this.apiKey,
          "Content-Type": "application/json",
          "Idempotency-Key": idempotencyKey
        },
        body: JSON.stringify(body)
      });
      const json = await readJson(response);
      if (response.status === 200 && isObject(json) && json["ok"] === true) {
        return {
          ok: true,
          sessionId: String(json["sessionId"]),
          delivered: Number(json["delivered"]),
          seq: Number(json["seq"]),
          replayed: response.headers.get("Idempotent-Replayed") === "true"
        };
      }
      throw this.failure(response, json, doing);
    }
    async send(url, init) {
      try {
        return await this.fetchImpl(url, {
          ...init,
          cache: "no-store",
          credentials: "omit",
          redirect: "error",
          referrerPolicy: "no-referrer",
          signal: AbortSignal.timeout(this.timeoutMs)
        });
      } catch (error) {
        if (error?.name === "TimeoutError") {
          throw new GatewayError("timeout", `${this.origin} did not answer within ${this.timeoutMs / 1e3} s`);
        }
        const described = describeNetError(await this.lookupNetError(url), this.origin);
        throw new GatewayError(described.kind, described.message);
      }
    }
    async lookupNetError(url) {
      for (let i2 = 0; i2 < 10; i2++) {
        const code = this.netError(url);
        if (code !== null) return code;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return null;
    }
    failure(response, body, doing) {
      const status = response.status;
      const problem = isProblem(body) ? body : null;
      const slug = slugOf(problem);
      const detail = problem?.detail ? `: ${problem.detail}` : "";
      if (!problem) {
        return new GatewayError(
          status >= 500 ? "unavailable" : "not-gateway",
          `Unexpected answer while ${doing}: HTTP ${status} without a gateway problem report. Is ${this.baseUrl} the gateway's URL?`,
          status
        );
      }
      switch (status) {
        case 401:
          if (slug === "invalid-token") {
            return new GatewayError("session-gone", `The viewer session is no longer valid (401)${detail}`, status);
          }
          return new GatewayError(
            "bad-key",
            "Bad API key: the gateway does not know this key (401). Check it in the options",
            status
          );
        case 403:
          if (problem.detail?.includes("Origin")) {
            return new GatewayError(
              "forbidden",
              `The API key is pinned to other origins (403). Add ${this.extensionOrigin} to its allowed_origins in the gateway's config`,
              status
            );
          }
          if (problem.detail?.includes("scope")) {
            return new GatewayError(
              "forbidden",
              `The API key may not do this (403)${detail}. It needs the scopes sessions:create and payments:publish`,
              status
            );
          }
          return new GatewayError("forbidden", `Forbidden (403) while ${doing}${detail}`, status);
        case 404:
        case 410:
          if (status === 404 && slug !== "session-not-found") {
            return new GatewayError("not-gateway", `Wrong gateway URL: ${this.baseUrl} has no payment API (404)`, status);
          }
          return new GatewayError(
            "session-gone",
            status === 410 ? "The viewer session expired (410)" : "The gateway does not know this viewer session (404)",
            status
          );
        case 409:
          return new GatewayError("conflict", `The gateway is still handling the same request (409)`, status);
        case 429: {
          const wait = parseRetryAfter(response.headers.get("Retry-After")) ?? 1;
          const rule = /"([a-z_]+)"/.exec(response.headers.get("RateLimit-Policy") ?? "")?.[1];
          return new GatewayError(
            "rate-limited",
            `Rate limited by the gateway${rule ? ` (${rule})` : ""}: try again in ${wait} s`,
            status,
            wait
          );
        }
        case 400:
        case 413:
        case 415:
        case 422:
          return new GatewayError(
            "rejected",
            `The gateway refused ${doing.replace(/^\w+ing /, "")} (${status} ${problem.title ?? ""})${detail}`,
            status
          );
        default:
          if (status >= 500) {
            return new GatewayError("unavailable", `The gateway is unavailable (${status})${detail}`, status);
          }
          if (status === 405) {
            return new GatewayError(
              "not-gateway",
              `Wrong gateway URL: ${this.baseUrl} has no payment API (${status})`,
              status
            );
          }
          return new GatewayError("rejected", `Unexpected answer while ${doing} (${status})${detail}`, status);
      }
    }
  };
  function isObject(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value);
  }
  function isProblem(value) {
    return isObject(value) && typeof value["status"] === "number" && typeof value["title"] === "string";
  }
  function isSession(value) {
    return isObject(value) && ["token", "url", "wsUrl", "sessionId", "expiresAt"].every((k2) => typeof value[k2] === "string");
  }
  async function readJson(response) {
    const type = response.headers.get("Content-Type") ?? "";
    if (!type.includes("json")) return null;
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  // src/shared/hash.ts
  function canonicalJson(value) {
    if (value === null || typeof value !== "object") return JSON.stringify(value);
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
    const entries = Object.entries(value).filter(([, v2]) => v2 !== void 0).sort(([a2], [b3]) => a2 < b3 ? -1 : a2 > b3 ? 1 : 0);
    return `{${entries.map(([k2, v2]) => `${JSON.stringify(k2)}:${canonicalJson(v2)}`).join(",")}}`;
  }
  async function sha256Hex(text) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), (b3) => b3.toString(16).padStart(2, "0")).join("");
  }

  // src/shared/settings.ts
  var KEYS = ["gatewayUrl", "apiKey"];
  async function loadSettings() {
    const stored = await chrome.storage.local.get([...KEYS]);
    const gatewayUrl = stored["gatewayUrl"];
    const apiKey = stored["apiKey"];
    if (typeof gatewayUrl !== "string" || typeof apiKey !== "string") return null;
    if (!gatewayUrl || !apiKey) return null;
    return { gatewayUrl, apiKey };
  }
  function originPattern(origin) {
    return `${origin}/*`;
  }

  // src/shared/types.ts
  var CAPTURE_PORT = "capture";

  // src/shared/amount.ts
  var CURRENCY = String.raw`(?:đồng|vnđ|vnd|đ|₫)`;
  var NUMBER = String.raw`(?<![\d.,])(\d(?:[\d.,\u00a0\u202f]*\d)?)(?![\d])`;
  var TAGGED = new RegExp(
    String.raw`${NUMBER}\s*${CURRENCY}(?![\p{L}\p{N}])|(?<![\p{L}])${CURRENCY}\s*${NUMBER}`,
    "iu"
  );
  var BARE = new RegExp(String.raw`^${NUMBER}$`, "u");
  function toInteger(number) {
    if (number === void 0) return null;
    let body = number;
    const minor = /([.,])0{1,2}$/.exec(body);
    if (minor) {
      body = body.slice(0, -minor[0].length);
      const grouped = /\D/.exec(body)?.[0];
      if (grouped === minor[1] || grouped === void 0 && minor[1] === ".") return null;
    }
    const sep = /\D/.exec(body)?.[0];
    if (sep !== void 0) {
      const groups = body.split(sep);
      const [head, ...rest] = groups;
      if (!head || head.length > 3 || rest.some((g2) => !/^\d{3}$/.test(g2))) return null;
    } else if (!/^\d+$/.test(body)) {
      return null;
    }
    const value = Number(body.replace(/\D/g, ""));
    return Number.isSafeInteger(value) && value > 0 ? value : null;
  }
  function parseVndAmount(text) {
    if (!text) return null;
    const clean = text.normalize("NFC").replace(/[\u200b-\u200d\u2060\ufeff]/g, "").trim();
    const tagged = TAGGED.exec(clean);
    if (tagged) return toInteger(tagged[1] ?? tagged[2]);
    return toInteger(BARE.exec(clean)?.[1]);
  }
  function formatVnd(amount) {
    return new Intl.NumberFormat("vi-VN", { style: "currency", currency: "VND" }).format(amount);
  }

  // src/background/badge.ts
  var BADGES = {
    idle: { text: "", color: "#5f6368" },
    working: { text: "…", color: "#b06000" },
    live: { text: "LIVE", color: "#137333" },
    error: { text: "ERR", color: "#c5221f" }
  };
  function badgeTitle(state) {
    const name = "Payment QR gateway";
    switch (state.phase) {
      case "live":
        return state.live ? `${name}: live (${state.live.merchant}, ${formatVnd(state.live.amount)})` : `${name}: live`;
      case "working":
        return state.lastError ? `${name}: ${state.lastError}` : `${name}: publishing…`;
      case "error":
        return `${name}: ${state.lastError ?? "error"}`;
      default:
        return state.cleared ? `${name}: screen cleared (${state.cleared.reason})` : name;
    }
  }
  function showBadge(state) {
    const badge = BADGES[state.phase];
    const tabId = state.tabId;
    const ignore = () => void 0;
    chrome.action.setBadgeText({ tabId, text: badge.text }).catch(ignore);
    chrome.action.setBadgeBackgroundColor({ tabId, color: badge.color }).catch(ignore);
    chrome.action.setTitle({ tabId, title: badgeTitle(state) }).catch(ignore);
  }

  // ../gateway/data/napas_bins.json
  var napas_bins_default = {
    _comment: "NAPAS acquirer BINs of VietQR (tag 38, 01/00) and the short names banks use in their apps. Facts from the public VietQR bank list (api.vietqr.io/v2/banks), names updated for the rebrands of 2023-2025. Shared by the gateway (payee.bankName) and the extension (popup).",
    "970400": "SaigonBank",
    "970403": "Sacombank",
    "970405": "Agribank",
    "970406": "DongA Bank",
    "970407": "Techcombank",
    "970408": "GPBank",
    "970409": "BacABank",
    "970410": "Standard Chartered",
    "970412": "PVcomBank",
    "970414": "MBV",
    "970415": "VietinBank",
    "970416": "ACB",
    "970418": "BIDV",
    "970419": "NCB",
    "970421": "VRB",
    "970422": "MB",
    "970423": "TPBank",
    "970424": "Shinhan Bank",
    "970425": "ABBANK",
    "970426": "MSB",
    "970427": "VietABank",
    "970428": "Nam A Bank",
    "970429": "SCB",
    "970430": "PGBank",
    "970431": "Eximbank",
    "970432": "VPBank",
    "970433": "Vietbank",
    "970434": "Indovina Bank",
    "970436": "Vietcombank",
    "970437": "HDBank",
    "970438": "BaoViet Bank",
    "970439": "Public Bank",
    "970440": "SeABank",
    "970441": "VIB",
    "970442": "Hong Leong Bank",
    "970443": "SHB",
    "970444": "CBBank",
    "970446": "Co-opBank",
    "970448": "OCB",
    "970449": "LPBank",
    "970452": "KienlongBank",
    "970454": "BVBank",
    "970455": "IBK Ha Noi",
    "970456": "IBK HCM",
    "970457": "Woori Bank",
    "970458": "UOB",
    "970462": "Kookmin Ha Noi",
    "970463": "Kookmin HCM",
    "970466": "KEB Hana HCM",
    "970467": "KEB Hana Ha Noi",
    "422589": "CIMB",
    "458761": "HSBC",
    "533948": "Citibank",
    "546034": "CAKE",
    "546035": "Ubank",
    "668888": "KBank",
    "796500": "DBS Bank",
    "801011": "Nonghyup",
    "963388": "Timo",
    "971005": "Viettel Money",
    "971011": "VNPT Money",
    "977777": "MAFC",
    "999888": "VBSP"
  };

  // src/shared/vietqr.ts
  var EmvError = class extends Error {
    constructor(kind, message) {
      super(message);
      this.kind = kind;
      this.name = "EmvError";
    }
    kind;
  };
  var MAX_LENGTH = 512;
  var NAPAS_GUID = "A000000727";
  var VNPAY_GUID = "A000000775";
  var VND = "704";
  var ACCOUNT_TEMPLATES = Array.from({ length: 26 }, (_2, i2) => String(26 + i2));
  var WALLETS = [
    { bin: "970454", prefix: "99MM", provider: "MOMO" },
    { bin: "970454", prefix: "99ZP", provider: "ZALOPAY" }
  ];
  var AMOUNT = /^[0-9]+(?:\.[0-9]*)?$/;
  var MASK = "••••";
  var BANK_NAMES = new Map(
    Object.entries(napas_bins_default).filter(([bin]) => !bin.startsWith("_"))
  );
  function bankName(bin) {
    return bin ? BANK_NAMES.get(bin) ?? null : null;
  }
  function crc16(text) {
    let crc = 65535;
    for (const byte of new TextEncoder().encode(text)) {
      crc ^= byte << 8;
      for (let bit = 0; bit < 8; bit++) crc = crc & 32768 ? (crc << 1 ^ 4129) & 65535 : crc << 1 & 65535;
    }
    return crc.toString(16).toUpperCase().padStart(4, "0");
  }
  var TWO_DIGITS = /^[0-9]{2}$/;
  function parseTlv(text, where) {
    const chars = Array.from(text);
    const fields = /* @__PURE__ */ new Map();
    let pos = 0;
    while (pos < chars.length) {
      const tag = chars.slice(pos, pos + 2).join("");
      const length = chars.slice(pos + 2, pos + 4).join("");
      if (!TWO_DIGITS.test(tag) || !TWO_DIGITS.test(length)) {
        throw new EmvError("malformed", `EMVCo ${where} is malformed at position ${pos}`);
      }
      const end = pos + 4 + Number(length);
      if (end > chars.length) throw new EmvError("malformed", `EMVCo ${where}: field ${tag} runs past its end`);
      if (fields.has(tag)) throw new EmvError("malformed", `EMVCo ${where}: field ${tag} appears twice`);
      fields.set(tag, chars.slice(pos + 4, end).join(""));
      pos = end;
    }
    return fields;
  }
  function looksLikeEmvco(text) {
    return text.startsWith("000201");
  }
  function parseEmvco(payload) {
    const chars = Array.from(payload);
    if (chars.length > MAX_LENGTH) {
      throw new EmvError("malformed", `EMVCo payload longer than ${MAX_LENGTH} characters`);
    }
    if (!looksLikeEmvco(payload)) {
      throw new EmvError("not-emvco", "EMVCo payload must start with the format indicator 000201");
    }
    if (chars.length < 8 || chars.slice(-8, -4).join("") !== "6304") {
      throw new EmvError("malformed", "EMVCo payload must end with the CRC field 6304XXXX");
    }
    const body = chars.slice(0, -4).join("");
    if (crc16(body) !== chars.slice(-4).join("").toUpperCase()) {
      throw new EmvError("crc", "EMVCo payload CRC does not match");
    }
    const fields = parseTlv(payload, "payload");
    const tags = [...fields.keys()];
    if (tags[tags.length - 1] !== "63" || Array.from(fields.get("63") ?? "").length !== 4) {
      throw new EmvError("malformed", "EMVCo CRC field 63 must be the last field, 4 characters long");
    }
    return fields;
  }
  function walletOf(bin, account) {
    const upper = (account ?? "").toUpperCase();
    return WALLETS.find((w2) => w2.bin === bin && upper.startsWith(w2.prefix))?.provider ?? null;
  }
  function parsePaymentQr(payload) {
    const fields = parseEmvco(payload);
    let provider = "EMVCO";
    let bankBin = null;
    let account = null;
    for (const tag of ACCOUNT_TEMPLATES) {
      const value = fields.get(tag);
      if (value === void 0) continue;
      const template = parseTlv(value, `template ${tag}`);
      if (provider !== "EMVCO") continue;
      const guid = (template.get("00") ?? "").toUpperCase();
      if (guid === NAPAS_GUID) {
        const beneficiary = parseTlv(template.get("01") ?? "", `template ${tag}.01`);
        bankBin = beneficiary.get("00") || null;
        account = beneficiary.get("01") || null;
        if (bankBin === null || !/^[0-9]{6}$/.test(bankBin) || account === null) {
          throw new EmvError("malformed", `EMVCo template ${tag}: a VietQR code names a 6-digit BIN and an account`);
        }
        provider = walletOf(bankBin, account) ?? "VIETQR";
      } else if (guid === VNPAY_GUID) {
        provider = "VNPAY";
        account = template.get("01") || null;
      }
    }
    const extra = fields.has("62") ? parseTlv(fields.get("62"), "template 62") : /* @__PURE__ */ new Map();
    const amount = fields.get("54") ?? null;
    if (amount !== null && !AMOUNT.test(amount)) {
      throw new EmvError("malformed", "EMVCo amount (tag 54) is not a number");
    }
    return {
      payload,
      provider,
      bankBin,
      account,
      amount,
      currency: fields.get("53") ?? null,
      merchantName: fields.get("59") || null,
      billNumber: extra.get("01") || null,
      purpose: extra.get("08") || null
    };
  }
  function maskAccount(account) {
    return account ? MASK + Array.from(account).slice(-4).join("") : null;
  }
  function payeeOf(qr) {
    return {
      provider: qr.provider,
      bankBin: qr.bankBin,
      bankName: bankName(qr.bankBin),
      account: maskAccount(qr.account),
      merchantName: qr.merchantName
    };
  }
  function wholeVnd(amount) {
    const [units, fraction = ""] = amount.split(".");
    if (!units || /[^0]/.test(fraction)) return null;
    const value = Number(units);
    return Number.isSafeInteger(value) && value > 0 ? value : null;
  }
  var CURRENCIES = {
    "704": "VND",
    "840": "USD",
    "978": "EUR",
    "156": "CNY",
    "392": "JPY",
    "410": "KRW",
    "764": "THB"
  };
  function currencyName(code) {
    return CURRENCIES[code] ?? `currency ${code}`;
  }

  // src/content/capture.ts
  var ORDER_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
  var CaptureError = class extends Error {
    /** `later`: the page is not ready yet (an image still loading); read it again later. */
    constructor(message, later = false) {
      super(message);
      this.later = later;
      this.name = "CaptureError";
    }
    later;
  };
  function cleanText(text, max) {
    const cleaned = text.normalize("NFC").replace(/[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}]/gu, " ").replace(/\s+/g, " ").trim();
    const chars = Array.from(cleaned);
    return chars.length <= max ? cleaned : chars.slice(0, max).join("").trim();
  }
  function toPaymentData(capture, qrCode, expiresAt) {
    const merchant = cleanText(capture.merchant, 120);
    if (!merchant) throw new CaptureError("The page shows no merchant name");
    if (!Number.isSafeInteger(capture.amount) || capture.amount < 1) {
      throw new CaptureError("The page shows no valid amount");
    }
    const data = { qrCode, merchant, amount: capture.amount };
    const orderId = capture.orderId?.trim();
    if (orderId && ORDER_ID.test(orderId)) data.orderId = orderId;
    const description = capture.description ? cleanText(capture.description, 255) : "";
    if (description) data.description = description;
    if (expiresAt) data.expiresAt = expiresAt;
    const deeplink = capture.deeplink?.trim();
    if (deeplink && deeplink.startsWith("momo://") && deeplink.length <= 2048) data.deeplink = deeplink;
    return data;
  }

  // src/background/generic.ts
  function newScanState(tabId, now) {
    return {
      tabId,
      origin: null,
      status: "done",
      at: now,
      codes: [],
      notes: [],
      problem: null,
      need: null,
      shown: null,
      choice: null,
      pageMerchant: null
    };
  }
  var CRC_FAILED = "The QR code on this page failed its CRC check: it is damaged or was altered, so it may not pay who it claims. Nothing was published.";
  function describeOther(text) {
    try {
      const url = new URL(text);
      if (url.protocol === "https:" || url.protocol === "http:") return `a link to ${url.host}`;
    } catch {
    }
    return "text that is not an EMVCo payment payload";
  }
  function found(payload, label) {
    const qr = parsePaymentQr(payload);
    let amount = null;
    let problem = null;
    if (qr.currency !== null && qr.currency !== VND) {
      const currency = `${currencyName(qr.currency)} (${qr.currency})`;
      problem = `This code asks for a payment in ${currency}, not VND. Nothing was published.`;
    } else if (qr.amount !== null) {
      amount = wholeVnd(qr.amount);
      if (amount === null) {
        problem = `This code's amount (${qr.amount}) is not a whole number of đồng. Nothing was published.`;
      }
    }
    return {
      payload,
      payee: payeeOf(qr),
      amount,
      billNumber: qr.billNumber,
      purpose: qr.purpose,
      label,
      problem
    };
  }
  function classify(decoded, pictures, unreadable) {
    const codes = [];
    const notes = [];
    const broken = [];
    const seen = /* @__PURE__ */ new Set();
    for (const { texts, label } of decoded) {
      for (const text of texts) {
        if (seen.has(text)) continue;
        seen.add(text);
        if (!looksLikeEmvco(text)) {
          notes.push(`Ignored a QR code that is not a payment code (${describeOther(text)}).`);
          continue;
        }
        try {
          codes.push(found(text, label));
        } catch (error) {
          if (!(error instanceof EmvError)) throw error;
          broken.push(
            error.kind === "crc" ? CRC_FAILED : `The QR code on this page is not a well-formed payment code (${error.message}). Nothing was published.`
          );
        }
      }
    }
    const plural = (n2, one, many) => n2 > 1 ? many : one;
    const unread = unreadable > 0 ? `${unreadable} ${plural(unreadable, "picture", "pictures")} could not be read: another site serves ${plural(unreadable, "it", "them")} and does not allow it.` : null;
    const usable = codes.filter((c2) => !c2.problem);
    let problem = null;
    if (usable.length > 0) notes.push(...broken.map((b3) => b3.replace(/ Nothing was published\.$/, " It was ignored.")));
    else if (broken.length > 0) problem = broken[0];
    else if (codes.length > 0) problem = codes[0].problem;
    else if (seen.size > 0) {
      problem = "No payment QR code on this page: the QR code here is not a payment code. Nothing was published.";
    } else {
      const checked = pictures > 0 ? `No QR code could be read on this page (${pictures} ${plural(pictures, "picture", "pictures")} checked).` : "No QR code is visible on this page.";
      return { codes, notes, problem: [checked, unread].filter(Boolean).join(" ") };
    }
    if (unread) notes.push(unread);
    return { codes, notes, problem };
  }
  function decide(codes, problem, choice, shown) {
    const usable = codes.filter((c2) => !c2.problem);
    if (choice) {
      const code = usable.find((c2) => c2.payload === choice.payload);
      const amount = code?.amount ?? choice.amount;
      if (code && amount !== null) return { kind: "publish", code, amount };
    }
    const onScreen = usable.find((c2) => c2.payload === shown && c2.amount !== null);
    if (onScreen) return { kind: "publish", code: onScreen, amount: onScreen.amount };
    if (usable.length === 1) {
      const only = usable[0];
      if (only.amount === null) return { kind: "need", need: "amount" };
      return { kind: "publish", code: only, amount: only.amount };
    }
    if (usable.length > 1) return { kind: "need", need: "pick" };
    return { kind: "none", problem: problem ?? "No payment QR code on this page. Nothing was published." };
  }
  function checkChoice(code, typed) {
    if (code.problem) return { ok: false, problem: code.problem };
    const text = typed.trim();
    const amount = text ? parseVndAmount(text) : null;
    if (text && amount === null) {
      const problem = `"${text.slice(0, 20)}" is not an amount in đồng (e.g. 150000 or 150.000). Nothing was published.`;
      return { ok: false, problem };
    }
    if (code.amount !== null) {
      if (amount !== null && amount !== code.amount) {
        return {
          ok: false,
          problem: `This code asks for ${formatVnd(code.amount)}, not the ${formatVnd(amount)} typed: the customer's app pays what the code says. Nothing was published.`
        };
      }
      return { ok: true, choice: { payload: code.payload, amount: null } };
    }
    if (amount === null) return { ok: false, problem: "This code has no amount: type the amount to collect." };
    return { ok: true, choice: { payload: code.payload, amount } };
  }
  function paymentData(code, amount, pageMerchant, origin) {
    const host = origin ? new URL(origin).host : "";
    const merchant = code.payee.merchantName || pageMerchant || host;
    return toPaymentData(
      {
        qr: code.payload,
        merchant,
        amount,
        ...code.billNumber ? { orderId: code.billNumber } : {},
        ...code.purpose ? { description: code.purpose } : {}
      },
      code.payload,
      void 0
    );
  }
  var GenericCapture = class {
    constructor(deps) {
      this.deps = deps;
      this.now = deps.now ?? Date.now;
    }
    deps;
    now;
    iso() {
      return new Date(this.now()).toISOString();
    }
    async state(tabId) {
      return await this.deps.load(tabId) ?? newScanState(tabId, this.iso());
    }
    /** The popup asked for a fresh read of the page. */
    async scanning(tabId) {
      const state = await this.state(tabId);
      await this.deps.save({ ...state, status: "scanning", at: this.iso() });
    }
    /** The page left the tab (its screen is being cleared): what it showed is forgotten. */
    async pageLeft(tabId) {
      if (await this.deps.load(tabId)) await this.deps.save(newScanState(tabId, this.iso()));
    }
    /** The tab cannot be read at all (a browser page, or no grant): said in the popup. */
    async unreadable(tabId, problem) {
      const state = await this.state(tabId);
      await this.deps.save({ ...state, status: "done", at: this.iso(), codes: [], notes: [], need: null, problem });
    }
    /** The page's pictures arrived: decode, classify, and publish or ask. */
    async scanned(tabId, origin, scan) {
      const decoded = [];
      for (const picture of scan.pictures) {
        const texts = await this.deps.decode(picture.png).catch(() => []);
        decoded.push({ texts, label: picture.label });
      }
      const { codes, notes, problem } = classify(decoded, scan.pictures.length, scan.unreadable);
      const state = await this.state(tabId);
      Object.assign(state, { origin, codes, notes, problem, pageMerchant: scan.pageMerchant });
      if (state.choice && !codes.some((c2) => c2.payload === state.choice.payload)) state.choice = null;
      await this.act(state);
    }
    /** The user picked a code (and typed an amount) in the popup. */
    async choose(tabId, payload, typed) {
      const state = await this.state(tabId);
      const code = state.codes.find((c2) => c2.payload === payload);
      if (!code) return { ok: false, problem: "That code is no longer on the page: open the popup again." };
      const checked = checkChoice(code, typed);
      if (!checked.ok) return { ok: false, problem: checked.problem };
      state.choice = checked.choice;
      await this.act(state);
      return { ok: true, problem: null };
    }
    async act(state) {
      const { tabId } = state;
      const decision = decide(state.codes, state.problem, state.choice, state.shown);
      state.status = "done";
      state.at = this.iso();
      if (decision.kind === "publish") {
        const data = paymentData(decision.code, decision.amount, state.pageMerchant, state.origin);
        Object.assign(state, { shown: decision.code.payload, need: null, problem: null });
        await this.deps.save(state);
        await this.deps.publisher.pageOpened(tabId);
        await this.deps.publisher.capture(tabId, data);
        return;
      }
      const wasShown = state.shown !== null;
      if (wasShown && !state.codes.some((c2) => c2.payload === state.shown && !c2.problem)) {
        state.shown = null;
        await this.deps.publisher.orderOver(tabId, "cancelled");
      }
      if (decision.kind === "need") {
        Object.assign(state, { need: decision.need, problem: null });
        await this.deps.save(state);
        await this.deps.publisher.clearProblem(tabId);
        return;
      }
      Object.assign(state, { need: null, problem: decision.problem });
      await this.deps.save(state);
      if (!wasShown) await this.deps.publisher.pageProblem(tabId, decision.problem);
    }
  };

  // src/shared/backoff.ts
  var DEFAULT_BACKOFF = {
    baseMs: 500,
    maxMs: 2e4,
    maxAttempts: 6,
    maxRetryAfterMs: 12e4
  };
  function nextDelay(attempt, retryAfterSeconds, policy = DEFAULT_BACKOFF, random = Math.random) {
    if (retryAfterSeconds !== null) {
      const ms = retryAfterSeconds * 1e3;
      return ms <= policy.maxRetryAfterMs ? ms : null;
    }
    if (attempt >= policy.maxAttempts) return null;
    const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + random() * (ceiling / 2));
  }

  // src/background/publisher.ts
  var MAX_RATE_LIMITED = 20;
  function newTabState(tabId) {
    return {
      tabId,
      session: null,
      renewedFrom: null,
      desired: null,
      gen: 0,
      ackedGen: 0,
      live: null,
      cleared: null,
      phase: "idle",
      lastError: null,
      lastErrorAt: null,
      pageOpen: true
    };
  }
  function sameDesired(a2, b3) {
    if (!a2 || a2.kind !== b3.kind) return false;
    return a2.kind === "publish" ? a2.hash === b3.hash : a2.reason === b3.reason;
  }
  var Publisher = class {
    constructor(deps) {
      this.deps = deps;
      this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
      this.now = deps.now ?? Date.now;
      this.policy = deps.policy ?? DEFAULT_BACKOFF;
      this.random = deps.random ?? Math.random;
    }
    deps;
    tabs = /* @__PURE__ */ new Map();
    running = /* @__PURE__ */ new Map();
    closed = /* @__PURE__ */ new Set();
    sleep;
    now;
    policy;
    random;
    /** Takes over the states kept by a previous run of the service worker. */
    restore(states) {
      for (const state of states) this.tabs.set(state.tabId, state);
    }
    get(tabId) {
      return this.tabs.get(tabId);
    }
    all() {
      return [...this.tabs.values()];
    }
    /** The page shows this payment. */
    async capture(tabId, data) {
      const hash = await sha256Hex(canonicalJson(data));
      await this.want(tabId, { kind: "publish", data, hash });
    }
    /** The page says the order is over. */
    async orderOver(tabId, status) {
      await this.want(tabId, { kind: "clear", reason: status === "paid" ? "paid" : "cancelled" });
    }
    /** The page could not be read (shown in the popup; nothing is sent). */
    async pageProblem(tabId, message) {
      const state = this.state(tabId);
      await this.update(state, { phase: "error", lastError: message, lastErrorAt: this.iso() });
    }
    /** The page's earlier problem is over (it now shows codes to choose from): no error on the badge. */
    async clearProblem(tabId) {
      const state = this.tabs.get(tabId);
      if (!state || state.phase !== "error" || state.ackedGen < state.gen) return;
      await this.update(state, { phase: state.live ? "live" : "idle", lastError: null, lastErrorAt: null });
    }
    async pageOpened(tabId) {
      const state = this.state(tabId);
      if (!state.pageOpen) await this.update(state, { pageOpen: true });
    }
    /** The checkout page left the tab (closed, navigated away, reloaded and not back). */
    async pageLeft(tabId) {
      const state = this.tabs.get(tabId);
      if (!state) return;
      await this.update(state, { pageOpen: false });
      await this.want(tabId, { kind: "clear", reason: "cancelled" });
    }
    /** The tab was closed: clear its screen, then forget it. */
    async tabClosed(tabId) {
      if (!this.tabs.has(tabId)) return;
      this.closed.add(tabId);
      await this.pageLeft(tabId);
      await this.settled(tabId);
      if (this.closed.delete(tabId)) {
        this.tabs.delete(tabId);
        await this.deps.store.remove(tabId);
      }
    }
    /**
     * The tab's session ran out while its page still shows a payment: make a new
     * session now (the popup shows its link) rather than at the page's next change.
     */
    async renewIfExpired(tabId) {
      const state = this.tabs.get(tabId);
      if (!state?.session || !state.live || state.desired?.kind !== "publish") return;
      if (Date.parse(state.session.expiresAt) > this.now() || state.ackedGen < state.gen) return;
      await this.update(state, {
        session: null,
        renewedFrom: state.session.sessionId,
        gen: state.gen + 1
        // the same data, published anew into the new session
      });
      await this.kick(tabId);
    }
    /**
     * The gateway URL or API key changed: the tabs' sessions belong to the old ones.
     * Each tab gets a new session, and what its page shows is published there.
     */
    async settingsChanged() {
      for (const state of this.tabs.values()) {
        if (!state.session) continue;
        const republish = state.desired?.kind === "publish" && state.pageOpen;
        await this.update(state, {
          session: null,
          renewedFrom: state.session.sessionId,
          live: null,
          ...republish ? { gen: state.gen + 1 } : {}
        });
        if (republish) await this.kick(state.tabId);
      }
    }
    /** Try again now (the popup's Retry button). */
    retry(tabId) {
      const state = this.tabs.get(tabId);
      if (state && state.ackedGen < state.gen) return this.kick(tabId);
      return Promise.resolve();
    }
    /** Resolves when the tab's loop (if any) has finished. */
    async settled(tabId) {
      await this.running.get(tabId);
    }
    /** Restarts the loops that a stopped service worker left unfinished. */
    resume() {
      for (const state of this.tabs.values()) {
        if (state.ackedGen < state.gen && state.phase === "working") void this.kick(state.tabId);
      }
    }
    state(tabId) {
      let state = this.tabs.get(tabId);
      if (!state) {
        state = newTabState(tabId);
        this.tabs.set(tabId, state);
      }
      return state;
    }
    async want(tabId, desired) {
      const state = this.state(tabId);
      if (sameDesired(state.desired, desired)) {
        if (state.ackedGen < state.gen) await this.kick(tabId);
        return;
      }
      await this.update(state, { desired, gen: state.gen + 1 });
      await this.kick(tabId);
    }
    kick(tabId) {
      const running = this.running.get(tabId);
      if (running) return Promise.resolve();
      const loop = this.loop(tabId).finally(() => {
        this.running.delete(tabId);
        if (this.closed.has(tabId)) {
          this.closed.delete(tabId);
          this.tabs.delete(tabId);
          void this.deps.store.remove(tabId);
        }
      });
      this.running.set(tabId, loop);
      return Promise.resolve();
    }
    async loop(tabId) {
      let failures = 0;
      let rateLimited = 0;
      let renewals = 0;
      for (; ; ) {
        const state = this.tabs.get(tabId);
        if (!state || !state.desired || state.ackedGen >= state.gen) return;
        const { desired, gen } = state;
        if (state.phase !== "working") await this.update(state, { phase: "working" });
        try {
          await this.apply(state, desired, gen);
          failures = rateLimited = 0;
        } catch (caught) {
          const error = caught instanceof GatewayError ? caught : new GatewayError("network", `Unexpected error: ${String(caught)}`);
          if (error.kind === "session-gone") {
            if (desired.kind === "clear") {
              await this.update(state, { ackedGen: gen, live: null, phase: "idle", lastError: null });
              continue;
            }
            if (++renewals > 2) {
              await this.fail(state, error.message);
              return;
            }
            await this.update(state, { session: null, renewedFrom: state.session?.sessionId ?? state.renewedFrom });
            continue;
          }
          if (!error.transient) {
            await this.fail(state, error.message);
            return;
          }
          const rate = error.kind === "rate-limited";
          const delay = rate && ++rateLimited > MAX_RATE_LIMITED ? null : nextDelay(rate ? 1 : ++failures, rate ? error.retryAfter : null, this.policy, this.random);
          if (delay === null) {
            await this.fail(state, error.message);
            return;
          }
          const retrying = rate ? `${error.message}. The extension will retry then.` : `${error.message}. Retrying in ${Math.ceil(delay / 1e3)} s.`;
          await this.update(state, { lastError: retrying, lastErrorAt: this.iso() });
          await this.sleep(delay);
        }
      }
    }
    /** One call to the gateway for `desired`; records the result in the state. */
    async apply(state, desired, gen) {
      if (desired.kind === "clear") {
        if (!state.session || !state.live) {
          await this.update(state, { ackedGen: gen, phase: "idle", lastError: null });
          return;
        }
        const client2 = await this.deps.client();
        const result2 = await client2.clear(state.session.token, desired.reason, `clear-${gen}-${desired.reason}`);
        await this.update(state, {
          ackedGen: gen,
          live: null,
          cleared: { reason: desired.reason, seq: result2.seq, at: this.iso() },
          phase: "idle",
          lastError: null,
          lastErrorAt: null
        });
        return;
      }
      const client = await this.deps.client();
      if (!state.session) {
        const session = await client.createSession();
        await this.update(state, { session });
      }
      const token = state.session.token;
      const result = await client.publish(token, desired.data, `pub-${gen}-${desired.hash.slice(0, 40)}`);
      await this.update(state, {
        ackedGen: gen,
        live: {
          merchant: desired.data.merchant,
          amount: desired.data.amount,
          orderId: desired.data.orderId ?? null,
          seq: result.seq,
          at: this.iso()
        },
        cleared: null,
        phase: "live",
        lastError: null,
        lastErrorAt: null
      });
    }
    async fail(state, message) {
      await this.update(state, { phase: "error", lastError: message, lastErrorAt: this.iso() });
    }
    async update(state, changes) {
      Object.assign(state, changes);
      this.deps.show(state);
      await this.deps.store.save(state);
    }
    iso() {
      return new Date(this.now()).toISOString();
    }
  };

  // src/background/sites.ts
  var KEY = "sites";
  function sitePattern(origin) {
    return `${origin}/*`;
  }
  function scriptId(origin) {
    return `site ${origin}`;
  }
  function siteOrigin(url) {
    try {
      const parsed = new URL(url ?? "");
      return parsed.protocol === "https:" ? parsed.origin : null;
    } catch {
      return null;
    }
  }
  async function storedSites() {
    const stored = await chrome.storage.local.get(KEY);
    const sites = stored[KEY];
    return Array.isArray(sites) ? sites.filter((s2) => typeof s2 === "string") : [];
  }
  async function store(sites) {
    await chrome.storage.local.set({ [KEY]: [...new Set(sites)].sort() });
  }
  async function registered(origin) {
    const scripts = await chrome.scripting.getRegisteredContentScripts({ ids: [scriptId(origin)] });
    return scripts.length > 0;
  }
  async function register(origin) {
    if (await registered(origin)) return;
    await chrome.scripting.registerContentScripts([
      {
        id: scriptId(origin),
        matches: [sitePattern(origin)],
        js: ["content.js"],
        runAt: "document_idle",
        allFrames: false,
        persistAcrossSessions: true
      }
    ]);
  }
  async function unregister(origin) {
    if (await registered(origin)) await chrome.scripting.unregisterContentScripts({ ids: [scriptId(origin)] });
  }
  async function addSite(origin) {
    if (siteOrigin(origin) !== origin) {
      return { ok: false, problem: "Only https:// sites can be captured automatically." };
    }
    if (!await chrome.permissions.contains({ origins: [sitePattern(origin)] })) {
      return { ok: false, problem: `Chrome did not allow the extension to read ${origin}: nothing changed.` };
    }
    await register(origin);
    await store([...await storedSites(), origin]);
    return { ok: true, problem: null };
  }
  async function removeSite(origin, gatewayOrigin2) {
    await unregister(origin);
    await store((await storedSites()).filter((s2) => s2 !== origin));
    if (origin !== gatewayOrigin2) await chrome.permissions.remove({ origins: [sitePattern(origin)] }).catch(() => false);
  }
  async function reconcileSites() {
    const kept = [];
    const dropped = [];
    for (const origin of await storedSites()) {
      if (await chrome.permissions.contains({ origins: [sitePattern(origin)] })) {
        await register(origin);
        kept.push(origin);
      } else {
        await unregister(origin);
        dropped.push(origin);
      }
    }
    await store(kept);
    return dropped;
  }

  // src/background/store.ts
  var PREFIX = "tab:";
  function tabKey(tabId) {
    return `${PREFIX}${tabId}`;
  }
  async function loadTabStates() {
    const all = await chrome.storage.session.get(null);
    return Object.entries(all).filter(([key]) => key.startsWith(PREFIX)).map(([, value]) => value);
  }
  async function saveTabState(state) {
    await chrome.storage.session.set({ [tabKey(state.tabId)]: state });
  }
  async function removeTabState(tabId) {
    await chrome.storage.session.remove(tabKey(tabId));
  }
  var SCAN_PREFIX = "scan:";
  function scanKey(tabId) {
    return `${SCAN_PREFIX}${tabId}`;
  }
  async function loadScanState(tabId) {
    const stored = await chrome.storage.session.get(scanKey(tabId));
    return stored[scanKey(tabId)] ?? null;
  }
  async function saveScanState(state) {
    await chrome.storage.session.set({ [scanKey(state.tabId)]: state });
  }
  async function removeScanState(tabId) {
    await chrome.storage.session.remove(scanKey(tabId));
  }

  // src/background/main.ts
  void chrome.storage.local.setAccessLevel?.({ accessLevel: "TRUSTED_CONTEXTS" }).catch(() => void 0);
  var EXTENSION_ORIGIN = chrome.runtime.getURL("").replace(/\/$/, "");
  var netErrors = /* @__PURE__ */ new Map();
  var listening = false;
  function listenForNetErrors() {
    if (listening || !chrome.webRequest?.onErrorOccurred) return;
    listening = true;
    chrome.webRequest.onErrorOccurred.addListener(
      (details) => {
        if (details.initiator !== EXTENSION_ORIGIN) return;
        netErrors.set(details.url, details.error);
        if (netErrors.size > 50) netErrors.delete(netErrors.keys().next().value);
      },
      { urls: ["https://*/*"] }
    );
  }
  listenForNetErrors();
  chrome.permissions.onAdded.addListener(listenForNetErrors);
  function takeNetError(url) {
    const code = netErrors.get(url) ?? null;
    netErrors.delete(url);
    return code;
  }
  async function gatewayClient() {
    const settings = await loadSettings();
    if (!settings) {
      throw new GatewayError(
        "unconfigured",
        "The extension is not set up: open its options and enter the gateway URL and API key"
      );
    }
    const origin = new URL(settings.gatewayUrl).origin;
    const granted = await chrome.permissions.contains({ origins: [originPattern(origin)] });
    if (!granted) {
      throw new GatewayError(
        "permission",
        `The extension may not connect to ${origin} yet: open its options and press Save to allow it`
      );
    }
    return new GatewayClient({
      baseUrl: settings.gatewayUrl,
      apiKey: settings.apiKey,
      netError: takeNetError,
      extensionOrigin: EXTENSION_ORIGIN
    });
  }
  var LEAVE_GRACE_MS = 1500;
  var RECONNECT_GRACE_MS = 5e3;
  var ports = /* @__PURE__ */ new Map();
  var adapterTabs = /* @__PURE__ */ new Set();
  var portOrigins = /* @__PURE__ */ new Map();
  var leaving = /* @__PURE__ */ new Map();
  function expectReturn(tabId, ms) {
    if (ports.has(tabId)) return;
    const previous = leaving.get(tabId);
    if (previous !== void 0) clearTimeout(previous);
    leaving.set(
      tabId,
      setTimeout(() => {
        leaving.delete(tabId);
        if (ports.has(tabId)) return;
        inOrder(tabId, () => publisher.pageLeft(tabId));
        inOrder(tabId, () => generic.pageLeft(tabId));
      }, ms)
    );
  }
  var publisher = new Publisher({
    store: { save: saveTabState, remove: removeTabState },
    client: gatewayClient,
    show: (state) => showBadge(state)
  });
  configureDecoder({ locateFile: (file) => chrome.runtime.getURL(file) });
  var decodedCache = /* @__PURE__ */ new Map();
  async function decodePng(png) {
    const key = await sha256Hex(png);
    const cached = decodedCache.get(key);
    if (cached) return cached;
    const bitmap = await createImageBitmap(await (await fetch(png)).blob());
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext("2d");
    if (!context) return [];
    context.drawImage(bitmap, 0, 0);
    const texts = await decodeQr(context.getImageData(0, 0, bitmap.width, bitmap.height));
    decodedCache.set(key, texts);
    if (decodedCache.size > 32) decodedCache.delete(decodedCache.keys().next().value);
    return texts;
  }
  var generic = new GenericCapture({
    publisher,
    decode: decodePng,
    load: loadScanState,
    save: saveScanState
  });
  void reconcileSites().catch(() => void 0);
  chrome.permissions.onRemoved.addListener(() => {
    void reconcileSites().then((dropped) => dropped.forEach(stopCapturing), () => void 0);
  });
  var ready = loadTabStates().then(async (states) => {
    const exists = (tabId) => chrome.tabs.get(tabId).then(
      () => true,
      () => false
    );
    const open = await Promise.all(states.map((s2) => exists(s2.tabId)));
    publisher.restore(states);
    publisher.resume();
    states.forEach((s2, i2) => {
      if (!open[i2]) void publisher.tabClosed(s2.tabId);
      else if (s2.live && s2.pageOpen) expectReturn(s2.tabId, RECONNECT_GRACE_MS);
    });
  });
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "local" && ("gatewayUrl" in changes || "apiKey" in changes)) {
      void ready.then(() => publisher.settingsChanged());
    }
  });
  var queues = /* @__PURE__ */ new Map();
  function inOrder(tabId, work) {
    const previous = queues.get(tabId) ?? ready;
    const next = previous.then(work).catch(() => void 0);
    queues.set(tabId, next);
    void next.then(() => {
      if (queues.get(tabId) === next) queues.delete(tabId);
    });
  }
  chrome.runtime.onConnect.addListener((port) => {
    const tabId = port.sender?.tab?.id;
    if (port.name !== CAPTURE_PORT || tabId === void 0 || port.sender?.frameId !== 0) {
      port.disconnect();
      return;
    }
    ports.set(tabId, port);
    adapterTabs.delete(tabId);
    portOrigins.set(tabId, port.sender?.origin ?? siteOrigin(port.sender?.url));
    const timer = leaving.get(tabId);
    if (timer !== void 0) clearTimeout(timer);
    leaving.delete(tabId);
    port.onMessage.addListener((message) => inOrder(tabId, () => handle(tabId, message)));
    port.onDisconnect.addListener(() => {
      if (ports.get(tabId) !== port) return;
      ports.delete(tabId);
      expectReturn(tabId, LEAVE_GRACE_MS);
    });
  });
  async function handle(tabId, message) {
    if (message.type === "capture" || message.type === "status" || message.type === "problem") adapterTabs.add(tabId);
    switch (message.type) {
      case "scan":
        await generic.scanned(tabId, portOrigins.get(tabId) ?? null, message.scan);
        return;
      case "capture":
        await publisher.pageOpened(tabId);
        await publisher.capture(tabId, message.data);
        return;
      case "status":
        await publisher.orderOver(tabId, message.status);
        return;
      case "problem":
        await publisher.pageProblem(tabId, `Could not read the checkout page: ${message.message}`);
        return;
      case "keepalive":
        await publisher.renewIfExpired(tabId);
        return;
    }
  }
  chrome.tabs.onRemoved.addListener((tabId) => {
    const timer = leaving.get(tabId);
    if (timer !== void 0) clearTimeout(timer);
    leaving.delete(tabId);
    ports.delete(tabId);
    adapterTabs.delete(tabId);
    portOrigins.delete(tabId);
    inOrder(tabId, () => publisher.tabClosed(tabId));
    inOrder(tabId, () => removeScanState(tabId));
  });
  async function scanTab(tabId) {
    const port = ports.get(tabId);
    if (port) {
      if (!adapterTabs.has(tabId)) await generic.scanning(tabId);
      port.postMessage({ type: "rescan" });
      return { ok: true, problem: null };
    }
    try {
      await generic.scanning(tabId);
      await chrome.scripting.executeScript({ target: { tabId }, files: ["content.js"] });
      return { ok: true, problem: null };
    } catch {
      const problem = "The extension cannot read this tab. Click its icon (or press its shortcut) on the checkout page itself; Chrome's own pages and the Web Store cannot be read.";
      await generic.unreadable(tabId, problem);
      return { ok: false, problem };
    }
  }
  function stopCapturing(origin) {
    for (const [tabId, port] of ports) {
      if (portOrigins.get(tabId) !== origin || adapterTabs.has(tabId)) continue;
      port.postMessage({ type: "stop" });
    }
  }
  async function gatewayOrigin() {
    const settings = await loadSettings();
    return settings ? new URL(settings.gatewayUrl).origin : null;
  }
  async function testConnection() {
    const steps = [];
    let client;
    try {
      client = await gatewayClient();
    } catch (error) {
      return { ok: false, steps, problem: error.message };
    }
    try {
      await client.health();
      steps.push({ name: "GET /health", ok: true, detail: "the gateway is up" });
    } catch (error) {
      const message = error.message;
      steps.push({ name: "GET /health", ok: false, detail: message });
      return { ok: false, steps, problem: message };
    }
    try {
      const session = await client.createSession();
      steps.push({
        name: "POST /api/token/generate",
        ok: true,
        detail: `the API key works: a test session was created (expires ${session.expiresAt})`
      });
    } catch (error) {
      const message = error.message;
      steps.push({ name: "POST /api/token/generate", ok: false, detail: message });
      return { ok: false, steps, problem: message };
    }
    return { ok: true, steps, problem: null };
  }
  function answer(tabId, work, sendResponse) {
    inOrder(tabId, async () => {
      try {
        sendResponse(await work());
      } catch (error) {
        sendResponse({ ok: false, problem: error.message });
      }
    });
    return true;
  }
  chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
    if (sender.id !== chrome.runtime.id || sender.tab?.url?.startsWith("http")) return false;
    if (sender.url && !sender.url.startsWith(EXTENSION_ORIGIN)) return false;
    if (message.type === "test-connection") {
      void testConnection().then(sendResponse);
      return true;
    }
    if (message.type === "retry") {
      void ready.then(() => publisher.retry(message.tabId)).then(() => sendResponse({ ok: true }));
      return true;
    }
    if (message.type === "scan-tab") return answer(message.tabId, () => scanTab(message.tabId), sendResponse);
    if (message.type === "choose") {
      const { tabId, payload, amount } = message;
      return answer(tabId, () => generic.choose(tabId, payload, amount), sendResponse);
    }
    if (message.type === "add-site") {
      const { origin, tabId } = message;
      void (async () => {
        const added = await addSite(origin);
        if (added.ok && tabId !== null && !ports.has(tabId)) await scanTab(tabId);
        return added;
      })().then(sendResponse, (error) => sendResponse({ ok: false, problem: error.message }));
      return true;
    }
    if (message.type === "remove-site") {
      void (async () => {
        await removeSite(message.origin, await gatewayOrigin());
        stopCapturing(message.origin);
        return { ok: true, problem: null };
      })().then(sendResponse, (error) => sendResponse({ ok: false, problem: error.message }));
      return true;
    }
    return false;
  });
})();
