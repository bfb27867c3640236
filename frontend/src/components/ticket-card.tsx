import { useEffect, useState } from "preact/hooks";
import type { Ticket } from "../api";
import { qrImage } from "../wallet-store";

/** A ticket with its QR code from the wallet in IndexedDB, so it shows offline too. */
export function TicketCard({ ticket, title }: { ticket: Ticket; title?: string }) {
  const [image, setImage] = useState<string | null>(null);
  useEffect(() => {
    let url: string | null = null;
    qrImage(ticket.ticket_id).then((blob) => {
      if (blob) {
        url = URL.createObjectURL(blob);
        setImage(url);
      }
    });
    return () => {
      if (url) URL.revokeObjectURL(url);
    };
  }, [ticket.ticket_id]);
  const seat = `${ticket.seat.section}, row ${ticket.seat.row}, seat ${ticket.seat.number}`;
  const valid = ticket.status === "valid";
  return (
    <li class={valid ? "ticket" : "ticket void"} data-ticket={ticket.ticket_id}>
      <div class="qr">
        {valid && image ? (
          <img src={image} width={164} height={164} alt={`QR code of the ticket for ${seat}`} />
        ) : (
          <span class="qr-placeholder">{valid ? "QR code loading…" : "Void"}</span>
        )}
      </div>
      <div>
        {title && <p class="ticket-event">{title}</p>}
        <p>{seat}</p>
        <p class="muted small">
          {valid ? "Valid" : "Void: its order was cancelled"} · issued {new Date(ticket.issued_at).toLocaleString()}
        </p>
        {valid && image && (
          <a class="button secondary" href={image} download={`ticket-${ticket.ticket_id}.png`}>
            Download QR (PNG)
          </a>
        )}
      </div>
    </li>
  );
}
