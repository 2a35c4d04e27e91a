//! Shamir secret sharing over GF(2^8) in HashiCorp Vault's layout, which
//! sops uses for key groups: each share is the secret's length of
//! y-values followed by one x-coordinate byte.

use super::cipher::fill_random;

fn mult(a: u8, b: u8) -> u8 {
    let mut r: u8 = 0;
    for i in (0..8).rev() {
        let bit = (b >> i) & 1;
        r = (0u8.wrapping_sub(bit) & a) ^ (0u8.wrapping_sub(r >> 7) & 0x1B) ^ r.wrapping_add(r);
    }
    r
}

fn inverse(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8).
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u32;
    while e > 0 {
        if e & 1 == 1 {
            result = mult(result, base);
        }
        base = mult(base, base);
        e >>= 1;
    }
    result
}

fn div(a: u8, b: u8) -> u8 {
    mult(a, inverse(b))
}

/// Joins shares back into the secret (any `threshold` of them).
pub fn combine(shares: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    if shares.len() < 2 {
        return Err("at least two shares are needed".into());
    }
    let len = shares[0].len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err("shares have different or too short lengths".into());
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err("duplicate share".into());
        }
    }
    let mut secret = Vec::with_capacity(len - 1);
    // Lagrange basis values at x = 0 are the same for every byte.
    let basis: Vec<u8> = (0..xs.len())
        .map(|i| {
            (0..xs.len())
                .filter(|j| *j != i)
                .fold(1u8, |b, j| mult(b, div(xs[j], xs[i] ^ xs[j])))
        })
        .collect();
    for idx in 0..len - 1 {
        let result = shares
            .iter()
            .zip(&basis)
            .fold(0u8, |acc, (s, b)| acc ^ mult(s[idx], *b));
        secret.push(result);
    }
    Ok(secret)
}

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Vec<u8>>, String> {
    if !(2..=255).contains(&parts) || threshold < 2 || threshold > parts {
        return Err(format!(
            "invalid Shamir parameters: {parts} parts, threshold {threshold} (need 2 <= threshold <= parts <= 255)"
        ));
    }
    // Distinct non-zero x coordinates from a random permutation.
    let mut perm: Vec<u8> = (1..=255).collect();
    for i in (1..perm.len()).rev() {
        let mut r = [0u8; 1];
        fill_random(&mut r);
        let j = (r[0] as usize * (i + 1)) / 256;
        perm.swap(i, j);
    }
    let mut shares: Vec<Vec<u8>> = (0..parts)
        .map(|i| {
            let mut s = vec![0u8; secret.len() + 1];
            s[secret.len()] = perm[i];
            s
        })
        .collect();
    let mut coeffs = vec![0u8; threshold];
    for (idx, byte) in secret.iter().enumerate() {
        coeffs[0] = *byte;
        fill_random(&mut coeffs[1..]);
        for share in shares.iter_mut() {
            let x = share[secret.len()];
            let mut y = coeffs[threshold - 1];
            for c in coeffs[..threshold - 1].iter().rev() {
                y = mult(y, x) ^ c;
            }
            share[idx] = y;
        }
    }
    Ok(shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_arithmetic_matches_aes_field() {
        assert_eq!(mult(0x57, 0x83), 0xc1); // FIPS-197 example
        for a in 1..=255u8 {
            assert_eq!(mult(a, inverse(a)), 1);
        }
    }

    #[test]
    fn any_threshold_subset_recovers_the_secret() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let shares = split(secret, 3, 2).unwrap();
        assert!(shares.iter().all(|s| s.len() == 33));
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            let got = combine(&[shares[a].clone(), shares[b].clone()]).unwrap();
            assert_eq!(got, secret);
        }
        let got = combine(&shares).unwrap();
        assert_eq!(got, secret);
    }
}
