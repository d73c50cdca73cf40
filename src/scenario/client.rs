//! What a script holds: clients (an adapter in a slot, with an identity the script can
//! change) and files the case's adapters uploaded.

use std::path::PathBuf;
use trafficlight_actors::ClientHandle;

/// A client slot of a running case, as a script variable (`alice`).
#[derive(Clone)]
pub struct Client {
    pub handle: ClientHandle,
    /// The Matrix localpart this client registers or logs in with.
    pub localpart: String,
    pub password: String,
    pub registration: rhai::Map,
    pub files_dir: PathBuf,
}

impl Client {
    /// A client with a fresh identity: `user_{slot}_{unix seconds}_{case tag}`. The tag
    /// keeps cases that start in the same second on one homeserver from colliding.
    pub fn new(handle: ClientHandle, case_tag: &str, files_dir: PathBuf) -> Self {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let slot = handle.name.to_ascii_lowercase();
        let registration = rhai::serde::to_dynamic(&*handle.registration)
            .ok()
            .and_then(|d| d.try_cast::<rhai::Map>())
            .unwrap_or_default();
        Client {
            localpart: format!("user_{slot}_{now}_{case_tag}"),
            password: format!("pass_bibble_bobble_{}", handle.name),
            registration,
            files_dir,
            handle,
        }
    }

    /// The stored name of a file this client uploaded as `name`.
    pub fn file(&self, name: &str) -> Result<ScriptFile, String> {
        let stored = format!("{}_{}", self.handle.name, name);
        let path = self.files_dir.join(&stored);
        let meta = std::fs::metadata(&path)
            .map_err(|_| format!("{} has uploaded no file named '{name}' in this case", self.handle.name))?;
        Ok(ScriptFile { name: stored, path, size: meta.len() as i64 })
    }
}

/// An uploaded file, as a script sees it.
#[derive(Clone, Debug)]
pub struct ScriptFile {
    pub name: String,
    pub path: PathBuf,
    pub size: i64,
}

impl ScriptFile {
    /// The colour of the image's centre pixel (PNG).
    pub fn centre_pixel(&self) -> Result<(u8, u8, u8), String> {
        let file = std::fs::File::open(&self.path).map_err(|e| format!("cannot open {}: {e}", self.name))?;
        let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().map_err(|e| format!("{} is not a PNG image: {e}", self.name))?;
        let mut buf = vec![0; reader.output_buffer_size().ok_or_else(|| format!("{} is too large", self.name))?];
        let frame = reader.next_frame(&mut buf).map_err(|e| format!("cannot decode {}: {e}", self.name))?;
        let (width, height) = (frame.width as usize, frame.height as usize);
        if width == 0 || height == 0 {
            return Err(format!("{} is an empty image", self.name));
        }
        let channels = frame.color_type.samples();
        let at = ((height / 2) * width + width / 2) * channels;
        let px = &buf[at..at + channels];
        Ok(match channels {
            1 | 2 => (px[0], px[0], px[0]),
            _ => (px[0], px[1], px[2]),
        })
    }
}

/// Names a snapshot's centre colour as the Element Call tests check it: `red`, `green`,
/// `blue`; `grey` (every channel 120–136: the frozen initial frame); `connecting`
/// (68/68/68); `other` for anything else.
pub fn colour_name((r, g, b): (u8, u8, u8)) -> &'static str {
    let grey = |c: u8| (120..=136).contains(&c);
    match (r, g, b) {
        (68, 68, 68) => "connecting",
        _ if grey(r) && grey(g) && grey(b) => "grey",
        _ if r > 150 && g < 100 && b < 100 => "red",
        _ if g > 150 && r < 100 && b < 100 => "green",
        _ if b > 150 && r < 100 && g < 100 => "blue",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::colour_name;

    #[test]
    fn names_the_colours_the_call_tests_check() {
        assert_eq!(colour_name((255, 0, 0)), "red");
        assert_eq!(colour_name((0, 255, 0)), "green");
        assert_eq!(colour_name((0, 0, 255)), "blue");
        assert_eq!(colour_name((128, 125, 133)), "grey");
        assert_eq!(colour_name((68, 68, 68)), "connecting");
        assert_eq!(colour_name((200, 200, 0)), "other");
    }
}
