// The page's words: Vietnamese by default, English when the browser prefers it.

export type Lang = "vi" | "en";

/** The first of the browser's languages that the page speaks; Vietnamese otherwise. */
export function pickLanguage(languages: readonly string[]): Lang {
  for (const tag of languages) {
    const primary = tag.toLowerCase().split("-")[0];
    if (primary === "vi" || primary === "en") return primary;
  }
  return "vi";
}

export interface Messages {
  title: string;
  connecting: string;
  connectingHint: string;
  waiting: string;
  waitingHint: string;
  clearedPaid: string;
  clearedCancelled: string;
  clearedReplaced: string;
  reconnecting: (attempt: number) => string;
  reconnectingHint: string;
  expired: string;
  expiredHint: string;
  invalid: string;
  invalidHint: string;
  unknown: string;
  unknownHint: string;
  full: string;
  fullHint: (attempt: number) => string;
  rateLimited: string;
  rateLimitedHint: (seconds: number) => string;
  qrExpired: string;
  qrExpiredHint: string;
  scan: string;
  qrAlt: (amount: string, merchant: string) => string;
  merchant: string;
  amount: string;
  orderId: string;
  qrExpiresIn: string;
  sessionEndsIn: string;
  openMomo: string;
  newCode: string;
  payeeAccount: string;
  payeeDiffers: (merchant: string) => string;
  fullscreen: string;
  noLink: string;
  noLinkHint: string;
}

const vi: Messages = {
  title: "Thanh toán",
  connecting: "Đang kết nối…",
  connectingHint: "Vui lòng đợi trong giây lát.",
  waiting: "Đang chờ thông tin thanh toán…",
  waitingHint: "Mã QR sẽ hiện ở đây khi đơn hàng sẵn sàng.",
  clearedPaid: "Đã thanh toán. Cảm ơn quý khách!",
  clearedCancelled: "Đơn hàng đã được huỷ.",
  clearedReplaced: "Đơn hàng đã thay đổi.",
  reconnecting: (n) => `Mất kết nối. Đang kết nối lại (lần ${n})…`,
  reconnectingHint: "Mã QR tạm ẩn cho đến khi kết nối lại.",
  expired: "Phiên thanh toán đã hết hạn.",
  expiredHint: "Vui lòng yêu cầu nhân viên tạo mã thanh toán mới.",
  invalid: "Liên kết thanh toán không hợp lệ.",
  invalidHint: "Vui lòng kiểm tra lại đường dẫn hoặc yêu cầu liên kết mới.",
  unknown: "Không tìm thấy phiên thanh toán.",
  unknownHint: "Phiên có thể đã kết thúc. Vui lòng yêu cầu liên kết mới.",
  full: "Phiên thanh toán đang có quá nhiều màn hình xem.",
  fullHint: (n) => `Hãy đóng bớt một màn hình. Đang thử lại (lần ${n})…`,
  rateLimited: "Có quá nhiều lần kết nối.",
  rateLimitedHint: (s) => `Sẽ thử lại sau ${s} giây.`,
  qrExpired: "Mã QR đã hết hạn.",
  qrExpiredHint: "Đang chờ mã mới…",
  scan: "Quét mã bằng ứng dụng MoMo hoặc ứng dụng ngân hàng",
  qrAlt: (amount, merchant) => `Mã QR thanh toán ${amount} cho ${merchant}`,
  merchant: "Người nhận",
  amount: "Số tiền",
  orderId: "Mã đơn hàng",
  qrExpiresIn: "Mã hết hạn sau",
  sessionEndsIn: "Phiên kết thúc sau",
  openMomo: "Mở ứng dụng MoMo",
  newCode: "Mã mới",
  payeeAccount: "Tài khoản nhận",
  payeeDiffers: (m) => `Tên trong mã QR khác với tên cửa hàng “${m}”: tiền sẽ chuyển cho người nhận ghi ở trên.`,
  fullscreen: "Toàn màn hình",
  noLink: "Màn hình thanh toán",
  noLinkHint: "Mở liên kết thanh toán của quầy trên màn hình này để hiện mã QR.",
};

const en: Messages = {
  title: "Payment",
  connecting: "Connecting…",
  connectingHint: "Please wait a moment.",
  waiting: "Waiting for payment details…",
  waitingHint: "The QR code appears here when the order is ready.",
  clearedPaid: "Paid. Thank you!",
  clearedCancelled: "The order was cancelled.",
  clearedReplaced: "The order has changed.",
  reconnecting: (n) => `Connection lost. Reconnecting (attempt ${n})…`,
  reconnectingHint: "The QR code is hidden until the connection is back.",
  expired: "This payment session has expired.",
  expiredHint: "Please ask the cashier for a new payment code.",
  invalid: "This payment link is not valid.",
  invalidHint: "Please check the link or ask for a new one.",
  unknown: "Payment session not found.",
  unknownHint: "It may have ended. Please ask for a new link.",
  full: "Too many screens are watching this payment.",
  fullHint: (n) => `Close one of them. Retrying (attempt ${n})…`,
  rateLimited: "Too many connection attempts.",
  rateLimitedHint: (s) => `Retrying in ${s} s.`,
  qrExpired: "This QR code has expired.",
  qrExpiredHint: "Waiting for a new code…",
  scan: "Scan with MoMo or your banking app",
  qrAlt: (amount, merchant) => `Payment QR code: ${amount} to ${merchant}`,
  merchant: "Pay to",
  amount: "Amount",
  orderId: "Order",
  qrExpiresIn: "Code expires in",
  sessionEndsIn: "Session ends in",
  openMomo: "Open in MoMo",
  newCode: "New code",
  payeeAccount: "Account",
  payeeDiffers: (m) => `The name in the QR code differs from the shop's name “${m}”: the money goes to the payee shown above.`,
  fullscreen: "Full screen",
  noLink: "Payment screen",
  noLinkHint: "Open the checkout's payment link on this screen to show its QR code.",
};

export const MESSAGES: Record<Lang, Messages> = { vi, en };
