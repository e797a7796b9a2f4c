<#
.SYNOPSIS
  TensorFlow GPU Assistant installer for Windows.
.DESCRIPTION
  powershell -ExecutionPolicy Bypass -File installer\install.ps1               install or repair, then start
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 --uninstall   remove what it added
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 --help        all options
  Needs Python >= 3.10 (the first one found of $env:PYTHON, the py launcher, python, python3)
  and access to PyPI. The steps live in installer\bootstrap.py (shared with Linux and macOS).
  Note: TensorFlow has no GPU build for native Windows since 2.10; the app explains the WSL2 route.
#>
$ErrorActionPreference = 'Stop'
$bootstrap = Join-Path $PSScriptRoot 'bootstrap.py'
# No quotes inside: Windows PowerShell 5.1 mangles embedded quotes in native arguments.
$probe = 'import sys; print(*sys.version_info[:2], sep=chr(46))'

function Get-PythonVersion([string[]]$command) {
    # The Microsoft Store's python.exe alias prints nothing and fails: treat it as absent.
    # 'Continue': under 'Stop', PowerShell 5.1 turns a native program's stderr into an error.
    $ErrorActionPreference = 'Continue'
    try {
        $exe, $rest = $command
        $out = & $exe @rest -c $probe 2>$null
        if ($LASTEXITCODE -eq 0 -and $out -match '^\d+\.\d+$') { return [version]$out }
    } catch { }
    return $null
}

$candidates = @()
if ($env:PYTHON) { $candidates += , @($env:PYTHON) }
else { $candidates += , @('py', '-3'); $candidates += , @('python'); $candidates += , @('python3') }

$found = @()
foreach ($command in $candidates) {
    $version = Get-PythonVersion $command
    if ($null -eq $version) { continue }
    if ($version -ge [version]'3.10') {
        $ErrorActionPreference = 'Continue'  # pip writes warnings to stderr
        $exe, $rest = $command
        & $exe @rest $bootstrap @args
        exit $LASTEXITCODE
    }
    $found += "$($command -join ' ') is Python $version"
}

[Console]::Error.WriteLine('install: Python 3.10 or newer is needed to install TensorFlow GPU Assistant.')
if ($found.Count -gt 0) { [Console]::Error.WriteLine("install: found only: $($found -join '; ')") }
else { [Console]::Error.WriteLine('install: no Python found (looked for: py -3, python, python3).') }
[Console]::Error.WriteLine('install: what to do: install a Python that TensorFlow supports from python.org')
[Console]::Error.WriteLine('install:   (tick "Add python.exe to PATH"; docs/install.md lists the versions), then run this again.')
exit 2
