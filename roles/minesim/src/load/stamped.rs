//! Reads that say when the kernel received the bytes (`SO_TIMESTAMPNS`), so latencies are
//! measured to the moment data reached the connection's socket, not to the moment the load
//! generator, busy with thousands of other connections on the same cores, got round to it.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Asks the kernel to timestamp what this socket receives.
pub fn enable(stream: &TcpStream) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: a valid socket fd, and a c_int option value that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Reads into `buf` once readable; returns the byte count (0 at end of stream) and the
/// kernel's receive time of the newest data read. The kernel gives none for data that arrived
/// before it switched stamping on (it does so asynchronously, shortly after the first socket
/// asks), nor at end of stream.
pub async fn read(stream: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, Option<SystemTime>)> {
    loop {
        stream.readable().await?;
        match stream.try_io(Interest::READABLE, || recv(stream.as_raw_fd(), buf)) {
            Ok(read) => return Ok(read),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<SystemTime>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for a few control messages, aligned for cmsghdr.
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; an all-zero value is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at buffers (iov, control) that live across the call, with their sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    let mut stamp = None;
    // SAFETY: the CMSG_* walk stays within msg_control/msg_controllen as the kernel filled it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let header = &*cmsg;
            if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                if let (Ok(secs), Ok(nanos)) = (u64::try_from(ts.tv_sec), u32::try_from(ts.tv_nsec))
                {
                    stamp = Some(UNIX_EPOCH + Duration::new(secs, nanos));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n, stamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn the_kernel_stamps_data_when_it_arrives() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        enable(&client).unwrap();
        let mut buf = [0u8; 64];
        // The kernel turns stamping on asynchronously: early data may come without a stamp.
        let mut stamped = None;
        for _ in 0..40 {
            let before = SystemTime::now();
            server.write_all(b"hello\n").await.unwrap();
            // Read late: the stamp is still when the bytes arrived, before the read began.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let before_read = SystemTime::now();
            let (n, stamp) = read(&client, &mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"hello\n");
            if let Some(stamp) = stamp {
                stamped = Some((before, stamp, before_read));
                break;
            }
        }
        let (before, stamp, before_read) = stamped.expect("the kernel stamped received data");
        assert!(
            stamp >= before && stamp < before_read,
            "{stamp:?} outside {before:?}..{before_read:?}"
        );
        drop(server);
        let (n, _) = read(&client, &mut buf).await.unwrap();
        assert_eq!(n, 0);
    }
}
